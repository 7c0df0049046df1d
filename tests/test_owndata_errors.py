"""A spec that does not fit its data fails `mmspec check`, located at the spec line (own files and
built-in datasets alike); bad files fail `mmspec run` with the file and the spec line, and leave
nothing in the run directory. Checking reads headers only and never imports torch."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from owndata_helpers import FAST, check_error, check_ok, cli, own_spec

N = 20
VECTORS = """modality a: vector(4) ~ gaussian(scale=1), net mlp(hidden=[8])
modality b: vector(2) ~ gaussian(scale=1), net mlp(hidden=[8])"""
BLOCK = """    modality a from "d.npz"["a"]
    modality b from "d.npz"["b"]
    label y from "d.npz"["y"]
    split train 0.5, test 0.5 seed 0"""


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", a=rng.normal(size=(N, 4)), b=rng.normal(size=(N, 2)),
             y=rng.integers(0, 2, N))
    return tmp_path


def test_the_base_spec_is_fine(data):
    check_ok(own_spec(data / "ok.mms", BLOCK, VECTORS))


@pytest.mark.parametrize("block, modalities, fragments, line", [
    # a modality missing from the files (key), with a suggestion
    (BLOCK.replace('["b"]', '["bb"]'), VECTORS, ["has no array 'bb'", "did you mean 'b'"], 4),
    # a shape that disagrees with the declaration
    (BLOCK, VECTORS.replace("vector(2)", "vector(3)"), ["gives 2 values per item", "vector(3)"], 4),
    # a kind that disagrees: a vector array declared as an image
    (BLOCK, VECTORS.replace("vector(4)", "image(1, 2, 2)"), ["items of shape 4", "image(1, 2, 2)"], 3),
    # a declared modality with no source in the block
    (BLOCK.replace('    modality b from "d.npz"["b"]\n', ""), VECTORS, ["modality 'b' has no source"], 12),
    # a source for a modality the spec does not declare
    (BLOCK + '\n    modality c from "d.npz"["a"]', VECTORS, ["names modality 'c'"], 7),
    # a missing file
    (BLOCK.replace('"d.npz"["b"]', '"e.npz"["b"]'), VECTORS, ["e.npz: file not found"], 4),
    # fractions that overlap
    (BLOCK.replace("0.5, test 0.5", "0.7, test 0.5"), VECTORS, ["add up to 1.2", "overlap"], 6),
    # labels missing for a metric that needs them
    (BLOCK.replace('    label y from "d.npz"["y"]\n', ""), VECTORS, ["latent_probe needs labels"], 20),
])
def test_check_reports_each_mismatch_at_its_line(data, block, modalities, fragments, line):
    check_error(own_spec(data / "bad.mms", block, modalities), *fragments, line=line)


def test_item_counts_must_agree(data):
    np.save(data / "short.npy", np.zeros((N - 1, 2)))
    spec = own_spec(data / "bad.mms", BLOCK.replace('"d.npz"["b"]', '"short.npy"'), VECTORS)
    check_error(spec, "short.npy has 19 items", "has 20", line=4)


def test_overlapping_index_splits(data):
    np.save(data / "tr.npy", np.arange(0, 12))
    np.save(data / "te.npy", np.arange(10, 20))
    block = BLOCK.replace("split train 0.5, test 0.5 seed 0", 'split train from "tr.npy", test from "te.npy"')
    check_error(own_spec(data / "bad.mms", block, VECTORS), "overlap: 2 item(s)", line=6)


def test_image_folders_must_match_names_and_size(tmp_path):
    from PIL import Image

    for folder, names in (("left", ["x1", "x2", "x3"]), ("right", ["x1", "x2", "x4"])):
        (tmp_path / folder).mkdir()
        for name in names:
            Image.new("RGB", (5, 4)).save(tmp_path / folder / f"{name}.png")
    mods = """modality left: image(3, 4, 5) ~ laplace(scale=1), net mlp(hidden=[8])
modality right: image(3, 4, 5) ~ laplace(scale=1), net mlp(hidden=[8])"""
    block = '    modality left from "left"\n    modality right from "right"\n    split train 0.5, test 0.5'
    check_error(own_spec(tmp_path / "bad.mms", block, mods, evaluate="elbo"),
                "do not hold the same file names", "x3", line=4)
    check_error(own_spec(tmp_path / "bad.mms", block, mods.replace("image(3, 4, 5)", "image(3, 5, 5)", 1),
                         evaluate="elbo"), "are 5x4 pixels", "image(3, 5, 5)", line=3)


def test_block_clause_mistakes(data):
    block = BLOCK + "\n    memory lots\n    split train 0.5, test 0.5"
    check_error(own_spec(data / "bad.mms", block, VECTORS), "unknown memory mode 'lots'",
                "two `split` clauses")


def test_builtin_datasets_are_checked_without_loading(tmp_path):
    spec = tmp_path / "mst.mms"
    spec.write_text("""model m
data mst
latent z: 4
prior p = normal()
modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality rna: vector(50) ~ gaussian(scale=1), net mlp(hidden=[8])
posterior q[m] = encoder(m)
maximize rec(q[mnist] -> mnist) - kl(q[mnist] || p)
infer S = poe(p, q[S])
""")
    check_error(spec, "dataset 'mst' has no modality 'rna'", "svhn: image(3, 32, 32)", line=6)
    spec.write_text(spec.read_text().replace("rna: vector(50)", "svhn: image(3, 28, 28)"))
    check_error(spec, "dataset 'mst' has svhn: image(3, 32, 32)", line=6)
    spec.write_text(spec.read_text().replace("data mst", "data cite"))
    check_error(spec, "unknown dataset 'cite'", "data cite {", line=2)


def test_builtin_table_matches_the_loaders(tmp_path):
    """mmspec's table of built-in shapes (used by check) against the stand-in loaders."""
    from mmspec.data.builtin import BUILTIN, shape_fits
    from runtime.data import load_dataset

    for name, modalities in BUILTIN.items():
        ds = load_dataset(name, source="standin", standin_size=12, cache_dir=tmp_path)
        assert set(ds.modalities) == set(modalities), name
        for m, (kind, shape) in modalities.items():
            assert ds.modalities[m].kind == kind and shape_fits(ds.modalities[m].shape, shape), (name, m)


def test_check_reads_headers_without_torch(data):
    """The data stage imports numpy/pyarrow/h5py/Pillow, never torch (subprocess: a clean import)."""
    spec = own_spec(data / "ok.mms", BLOCK, VECTORS)
    code = f"""
import sys
from mmspec.syntax.parser import parse
from mmspec.data.plan import Declared, inspect_data
spec = parse(open({str(spec)!r}).read(), {str(spec)!r})
decl = next(s.block for s in spec.statements if type(s).__name__ == "DataStmt")
plan = inspect_data(decl, {{"a": Declared("vector", (4,)), "b": Declared("vector", (2,))}})
assert not plan.problems and plan.n_items == {N}, plan.problems
assert "torch" not in sys.modules, "torch was imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---- bad files: run fails with the file and the spec line, and writes nothing ---------------

def _run_fails(spec, tmp_path, *fragments):
    out = tmp_path / "run"
    result = cli("run", spec, "--out", out, "--cache-dir", tmp_path / "cache", *FAST)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output
    assert not out.exists(), list(out.iterdir())
    return result.output


def test_label_with_nan(tmp_path):
    (tmp_path / "t.csv").write_text("a0,a1,a2,a3,b0,b1,y\n" +
                                    "".join(f"{i},1,2,3,4,5,{'' if i == 3 else i % 2}\n" for i in range(N)))
    block = ('    modality a from "t.csv"["a?"]\n    modality b from "t.csv"["b?"]\n'
             '    label y from "t.csv"["y"]\n    split train 0.5, test 0.5 seed 0')
    spec = own_spec(tmp_path / "nan.mms", block, VECTORS)
    _run_fails(spec, tmp_path, "nan.mms:5:", "t.csv", "missing (NaN)", "first at row 3")


def test_ragged_array(tmp_path, data):
    np.save(data / "ragged.npy", np.array([np.zeros(2), np.zeros(3)] * (N // 2), dtype=object),
            allow_pickle=True)
    spec = own_spec(data / "bad.mms", BLOCK.replace('"d.npz"["b"]', '"ragged.npy"'), VECTORS)
    text = _run_fails(spec, tmp_path, "bad.mms:4:", "ragged.npy", "dtype object")
    assert "cannot be a modality" in text


def test_string_array_cannot_be_a_modality(data, tmp_path):
    np.save(data / "names.npy", np.array([["x", "y"]] * N))
    spec = own_spec(data / "bad.mms", BLOCK.replace('"d.npz"["b"]', '"names.npy"'), VECTORS)
    _run_fails(spec, tmp_path, "bad.mms:4:", "names.npy", "holds strings")


def test_an_image_of_the_wrong_size(tmp_path):
    from PIL import Image

    (tmp_path / "p").mkdir()
    for i in range(N):
        Image.new("L", (5, 4) if i != 7 else (6, 4)).save(tmp_path / "p" / f"i{i:02d}.png")
    np.save(tmp_path / "v.npy", np.zeros((N, 2)))
    block = '    modality a from "p"\n    modality b from "v.npy"\n    split train 0.5, test 0.5'
    mods = VECTORS.replace("vector(4)", "image(1, 4, 5)")
    spec = own_spec(tmp_path / "img.mms", block, mods, evaluate="elbo")
    check_ok(spec)                                      # check reads one image's header
    _run_fails(spec, tmp_path, "img.mms:3:", "i07.png", "6x4 pixels, expected 5x4")


@pytest.mark.parametrize("text, fragments", [
    ('data "cite.npz"', ["2:6", "data NAME {"]),
    ('data cite {\n  modalty rna from "a.npz"\n}', ["3:3", "did you mean 'modality'"]),
    ('data cite {\n  modality rna from "a.npz" key "rna"\n}', ["3:29", "'['"]),
])
def test_data_block_syntax_errors(text, fragments):
    from mmspec import SpecError, check_spec

    with pytest.raises(SpecError) as err:
        check_spec(f"model x\n{text}\nlatent z: 4\n", filename="bad.mms")
    for fragment in fragments:
        assert fragment in str(err.value)


def test_language_reference_data_block_parses():
    """The block shown in docs/language.md parses into the documented sources and split."""
    import re

    from mmspec.syntax.parser import parse
    from spec_helpers import ROOT

    doc = (ROOT / "docs" / "language.md").read_text()
    block = next(b for b in re.findall(r"```\n(.*?)```", doc, flags=re.DOTALL) if b.startswith("data cite {"))
    decl = parse(f"model x\n{block}", "lang.mms").statements[1].block
    assert [(m.name, m.source.path, m.source.select) for m in decl.modalities] == [
        ("rna", "cite.npz", ("rna",)), ("adt", "cite.npz", ("adt",))]
    assert decl.label.name == "cell_type" and decl.split.kind == "column" and decl.memory == "auto"
    assert decl.files == "cite" and not decl.problems


def _write_bad(folder, case: str) -> str:
    """Write one bad file for `case` into `folder`; returns the block line that reads it (as b)."""
    import h5py
    import pyarrow as pa
    import pyarrow.parquet as pq

    if case == "missing file":
        return 'modality b from "absent.npy"'
    if case == "missing column":
        (folder / "t.csv").write_text("b0,b1\n" + "1,2\n" * N)
        return 'modality b from "t.csv"["b0", "bb1"]'
    if case == "missing hdf5 dataset":
        with h5py.File(folder / "d.h5", "w") as f:
            f["group/b"] = np.zeros((N, 2))
        return 'modality b from "d.h5"["group/c"]'
    if case == "complex dtype":
        np.save(folder / "c.npy", np.zeros((N, 2), dtype=np.complex64))
        return 'modality b from "c.npy"'
    if case == "ragged csv":
        (folder / "t.csv").write_text("b0,b1\n" + "".join("1,2\n" if i != 5 else "1,2,3\n" for i in range(N)))
        return 'modality b from "t.csv"["b0", "b1"]'
    if case == "empty csv label":
        (folder / "t.csv").write_text("y,z\n" + "".join(("B" if i != 6 else "") + ",1\n" for i in range(N)))
        return 'label y from "t.csv"["y"]'
    if case == "null parquet label":
        pq.write_table(pa.table({"y": pa.array([None if i == 9 else i % 2 for i in range(N)], pa.int64())}),
                       folder / "t.parquet")
        return 'label y from "t.parquet"["y"]'
    raise AssertionError(case)


@pytest.mark.parametrize("case, fragments", [
    ("missing file", ["absent.npy: file not found"]),
    ("missing column", ["has no column 'bb1'", "did you mean 'b1'"]),
    ("missing hdf5 dataset", ["has no dataset 'group/c'", "group/b"]),
    ("complex dtype", ["dtype complex64", "cannot be a modality"]),
    ("ragged csv", ["not a readable table", "Expected 2 columns, got 3"]),
    ("empty csv label", ["t.csv['y'] has 1 empty value(s), first at row 6"]),
    ("null parquet label", ["t.parquet['y'] has 1 missing (NaN) value(s), first at row 9"]),
])
def test_bad_files_fail_run_at_the_spec_line_and_write_nothing(data, tmp_path, case, fragments):
    line = _write_bad(data, case)
    if line.startswith("label"):
        block, at = BLOCK.replace('label y from "d.npz"["y"]', line), 5
    else:
        block, at = BLOCK.replace('modality b from "d.npz"["b"]', line), 4
    spec = own_spec(data / "bad.mms", block, VECTORS)
    _run_fails(spec, tmp_path, f"bad.mms:{at}:", *fragments)


def test_a_corrupt_image_fails_run_with_its_name(tmp_path):
    from PIL import Image

    (tmp_path / "p").mkdir()
    for i in range(N):
        Image.new("L", (5, 4), i).save(tmp_path / "p" / f"i{i:02d}.png")
    broken = tmp_path / "p" / "i03.png"
    broken.write_bytes(broken.read_bytes()[:30])
    np.save(tmp_path / "v.npy", np.zeros((N, 2)))
    block = '    modality a from "p"\n    modality b from "v.npy"\n    split train 0.5, test 0.5'
    spec = own_spec(tmp_path / "img.mms", block, VECTORS.replace("vector(4)", "image(1, 4, 5)"), evaluate="elbo")
    _run_fails(spec, tmp_path, "img.mms:3:", "i03.png", "cannot read this image")
