"""The `data NAME { ... }` block: its grammar rules' Transformer methods, mixed into the parser's.

The rules live in grammar.lark (section "own data"); the clauses become `decl.py` nodes, so the
checker and the runtime read one description of the data. The grammar in words:

    data NAME { clause* }
    clause:  files "FOLDER"
           | modality NAME from SOURCE
           | label NAME from SOURCE              one class label per item
           | attributes [NAME] from SOURCE       several binary (0/1) attributes per item
           | split from SOURCE                   a column of train/validation/test (or 0/1/2)
           | split PART ("," PART)* [seed INT]   PART: NAME FRACTION | NAME from SOURCE (index file)
           | memory auto|resident|stream [workers INT]   INT: DataLoader workers when streamed
           | layout NAME [skip NAME]             a known file layout (mimic_cxr: mimic.py)
    SOURCE:  "PATH" ["[" "KEY", ... "]"] [chars|words] [by "COLUMN"]
"""
from __future__ import annotations

from lark import Token, Transformer, v_args

from ..errors import Span
from .decl import MEMORY_MODES, DataDecl, LabelDecl, ModalitySource, Source, SplitDecl

DATA_WORDS = ("files", "from", "label", "attributes", "split", "seed", "memory", "workers", "layout", "skip", "chars", "words", "by")


def _span(meta) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _unquote(token) -> str:
    return str(token)[1:-1]


@v_args(meta=True)
class DataBlockTransformer(Transformer):
    """Transformer methods for the data block's rules (see the module docstring)."""

    filename: str = "<spec>"

    def data_block(self, meta, items):
        return ("block", _span(meta), list(items))

    def data_files(self, meta, items):
        return ("files", _span(meta), _unquote(items[0]))

    def source_select(self, meta, items):
        return tuple(_unquote(t) for t in items)

    def data_source(self, meta, items):
        path, select, mode, by = items
        return Source(_unquote(path), select or (), str(mode) if mode is not None else None,
                      _unquote(by) if by is not None else None, _span(meta))

    def data_modality(self, meta, items):
        name, source = items
        return ModalitySource(str(name), source, _span(meta))

    def data_label(self, meta, items):
        name, source = items
        return LabelDecl(str(name), source, False, _span(meta))

    def data_attributes(self, meta, items):
        name, source = items
        return LabelDecl(str(name) if name is not None else "attributes", source, True, _span(meta))

    def data_split_column(self, meta, items):
        return SplitDecl("column", source=items[0], span=_span(meta))

    def split_fraction(self, meta, items):
        return (str(items[0]), float(items[1]))

    def split_file(self, meta, items):
        return (str(items[0]), items[1])

    def data_split_parts(self, meta, items):
        *parts, seed = items
        kinds = {isinstance(value, Source) for _, value in parts}
        kind = "indices" if kinds == {True} else "fractions" if kinds == {False} else "mixed"
        return SplitDecl(kind, parts=tuple(parts), seed=int(seed) if seed is not None else 0, span=_span(meta))

    def data_memory(self, meta, items):
        mode, workers = items
        return ("memory", _span(meta), str(mode), int(workers) if workers is not None else None)

    def data_layout(self, meta, items):
        name, skip = items
        return ("layout", _span(meta), str(name), str(skip) if skip is not None else None)

    def data_decl(self, name: Token, span: Span, block) -> DataDecl:
        """The DataDecl of `data NAME { ... }`; clauses of the wrong kind are left to the checker."""
        if block is None:
            return None
        _, _, clauses = block
        problems = []
        seen: dict[str, Span] = {}
        for clause in clauses:
            what, where = _clause_kind(clause)
            if what in seen:
                problems.append((f"the data block has two `{what}` clauses", where,
                                 f"the first is on line {seen[what].line}"))
            seen.setdefault(what, where)
            if isinstance(clause, SplitDecl) and clause.kind == "mixed":
                problems.append(("a split is either fractions (`train 0.8, test 0.2`) or index files "
                                 "(`train from \"FILE\", ...`), not both", where, None))
        if ("memory" in seen) and clauses and memory_mode(clauses) not in MEMORY_MODES:
            problems.append((f"unknown memory mode '{memory_mode(clauses)}'", seen["memory"],
                             "one of: " + ", ".join(MEMORY_MODES)))
        files = next((c for c in clauses if isinstance(c, tuple) and c[0] == "files"), None)
        memory = next((c for c in clauses if isinstance(c, tuple) and c[0] == "memory"), None)
        layout = next((c for c in clauses if isinstance(c, tuple) and c[0] == "layout"), None)
        return DataDecl(
            name=str(name),
            modalities=tuple(c for c in clauses if isinstance(c, ModalitySource)),
            files=files[2] if files else None, files_span=files[1] if files else None,
            labels=tuple(c for c in clauses if isinstance(c, LabelDecl)),
            split=next((c for c in clauses if isinstance(c, SplitDecl)), None),
            memory=memory[2] if memory else "auto", memory_span=memory[1] if memory else None,
            workers=memory[3] if memory else None,
            layout=layout[2] if layout else None, layout_skip=layout[3] if layout else None,
            layout_span=layout[1] if layout else None,
            spec_file=self.filename, span=span, problems=tuple(problems))


def memory_mode(clauses) -> str:
    return next(c[2] for c in clauses if isinstance(c, tuple) and c[0] == "memory")


def _clause_kind(clause) -> tuple[str, Span]:
    if isinstance(clause, tuple):
        return clause[0], clause[1]
    if isinstance(clause, ModalitySource):
        return f"modality {clause.name}", clause.span
    if isinstance(clause, LabelDecl):
        return ("attributes" if clause.multi else "label"), clause.span
    return "split", clause.span
