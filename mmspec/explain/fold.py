"""Folding `explain`'s printout for specs with many subsets.

With M modalities a subset family has 2^M - 1 members: MoPoE on 16 modalities has 65,535 subset
posteriors, as many KL terms and infer rules, and a mixture of 65,535 components. Printed in full
that is ~200,000 lines nobody reads. A family shows as a run of consecutive lines of one *form*
(the line with its subset, modality and member list abstracted away); a run longer than
`RUN_LIMIT` is folded to its first lines, a count, and its last line, and a sum of more than
`RUN_LIMIT` terms on one line is shortened the same way. `mmspec explain --expand` prints it all.

The limit is above what the shipped specs produce (at most 5 modalities: 31 subsets), so their
printouts are unchanged.
"""
from __future__ import annotations

import re

RUN_LIMIT = 64          # lines of one form, or terms of one sum, printed without folding
_HEAD, _TAIL = 3, 1     # lines kept at the start and the end of a folded run

_FORM_RULES = (
    (re.compile(r"\{[^{}]*\}"), "{S}"),                     # a subset label {a,b,c}
    (re.compile(r"\[\w+\]"), "[m]"),                        # a modality index q[mnist]
    (re.compile(r"x_\w+(, x_\w+)*"), "X"),                  # what a distribution is conditioned on
    (re.compile(r"\w+\[m\]\(\w+ \| X\)( · \w+\[m\]\(\w+ \| X\))*"), "∏"),   # a product of experts
    (re.compile(r"-?\d+(\.\d+)?(e[-+]?\d+)?"), "#"),        # counts and weights
    (re.compile(r" +"), " "),                               # column padding
)


def form(line: str) -> str:
    """A line with what varies along a subset family abstracted away."""
    for pattern, replacement in _FORM_RULES:
        line = pattern.sub(replacement, line)
    return line


def fold(lines: list[str], limit: int = RUN_LIMIT) -> list[str]:
    """Runs of more than `limit` consecutive lines of one form, folded; long sums shortened."""
    out: list[str] = []
    start = 0
    forms = [form(line) for line in lines]
    while start < len(lines):
        end = start + 1
        while end < len(lines) and forms[end] == forms[start]:
            end += 1
        run = [shorten_sum(line, limit) for line in lines[start:end]]
        if len(run) > limit:
            indent = run[0][:len(run[0]) - len(run[0].lstrip())]
            hidden = len(run) - _HEAD - _TAIL
            run = run[:_HEAD] + [f"{indent}⋮ {hidden:,} more lines of this form "
                                 "(mmspec explain --expand prints them all)"] + run[-_TAIL:]
        out += run
        start = end
    return out


def shorten_sum(line: str, limit: int = RUN_LIMIT) -> str:
    """`a + b + ... + z` of more than `limit` terms -> `a + b + c + … + z` and the count."""
    parts = line.split(" + ")
    if len(parts) <= limit:
        return line
    return " + ".join(parts[:_HEAD] + ["…"] + parts[-_TAIL:]) + f"   [{len(parts):,} terms; --expand lists them]"
