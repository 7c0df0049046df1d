"""MIMIC-CXR-JPG as a layout (`layout mimic_cxr`): a tiny official tree written here (real JPEGs,
the real CSV headers) against the pairs, labels and subject split worked out by hand from what was
written; check errors at the layout line; resident and streamed batches agree.

Every image is a constant grey value unique to it, between black strips that the centre crop must
remove (frontal: left and right strips, lateral: top and bottom), so a batch names its images:
item i's frontal is value / 255 everywhere exactly when the right image was read and cropped."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from owndata_helpers import check_error, check_ok, cli, own_spec

METADATA_HEADER = ("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,"
                   "StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
                   "PatientOrientationCodeSequence_CodeMeaning")
LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
          "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
          "Pneumothorax", "Support Devices")
# (subject, study, [(dicom_id, ViewPosition), ...]); "" is a blank view (left out), as is "AP AXIAL"
STUDIES = [
    (10000032, 50000001, [("d01", "PA"), ("d02", "LATERAL")]),
    (10000032, 50000002, [("d03", "AP"), ("d04", "PA"), ("d05", "LL")]),
    (10000764, 50000003, [("d06", "PA"), ("d07", "LATERAL"), ("d08", "LATERAL")]),
    (11000011, 50000004, [("d09", "AP"), ("d10", "LATERAL"), ("d11", "AP AXIAL"), ("d23", "")]),
    (12000044, 50000005, [("d12", "PA"), ("d13", "LATERAL")]),
    (13000099, 50000006, [("d14", "PA"), ("d15", "LL")]),
    (13000099, 50000007, [("d16", "PA")]),                            # no lateral
    (14000012, 50000008, [("d17", "AP"), ("d18", "LATERAL")]),
    (15000034, 50000009, [("d19", "PA"), ("d20", "LATERAL")]),
    (16000056, 50000010, [("d21", "AP"), ("d22", "LATERAL")]),
]
SIZE = 16
MODS = f"""modality frontal: image(1, {SIZE}, {SIZE}) ~ laplace(scale=0.75), net mlp(hidden=[8])
modality lateral: image(1, {SIZE}, {SIZE}) ~ laplace(scale=0.75), net mlp(hidden=[8])"""
BLOCK = """    files "mimic"
    layout mimic_cxr skip unpaired
    split train 0.6, validation 0.2, test 0.2 seed 1"""


def grey(dicom: str) -> int:
    return (10 + 9 * int(dicom[1:])) % 256            # distinct for d01..d23


def write_tree(root, studies=STUDIES, seed=0, name="mimic"):
    """The official layout under root/name; returns {study: the 14 label values written (NaN: blank)}."""
    from PIL import Image

    folder = root / name
    rows, labels = [], {}
    rng = np.random.default_rng(seed)
    for subject, study, images in studies:
        where = folder / "files" / f"p{str(subject)[:2]}" / f"p{subject}" / f"s{study}"
        where.mkdir(parents=True, exist_ok=True)
        for dicom, view in images:
            lateral = view in ("LATERAL", "LL")
            picture = np.zeros((48, 32) if lateral else (32, 48), dtype=np.uint8)   # (rows, columns)
            if lateral:
                picture[8:40, :] = grey(dicom)
            else:
                picture[:, 8:40] = grey(dicom)
            Image.fromarray(picture).save(where / f"{dicom}.jpg", quality=95)
            rows.append(f"{dicom},{subject},{study},CHEST (PA AND LAT),{view},{picture.shape[0]},"
                        f"{picture.shape[1]},21800506,213014.531,CHEST (PA AND LAT),postero-anterior,Erect")
        labels[study] = rng.choice([1.0, 0.0, -1.0, np.nan], size=len(LABELS))
    (folder / "mimic-cxr-2.0.0-metadata.csv").write_text(METADATA_HEADER + "\n" + "\n".join(rows) + "\n")
    lines = ["subject_id,study_id," + ",".join(LABELS)]
    for subject, study, _ in studies:
        lines.append(f"{subject},{study}," + ",".join("" if np.isnan(v) else f"{v:.1f}" for v in labels[study]))
    (folder / "mimic-cxr-2.0.0-chexpert.csv").write_text("\n".join(lines) + "\n")
    return labels


def expected_pairs(studies=STUDIES):
    """(frontal dicom, lateral dicom, subject, study) in study order, every frontal with every lateral."""
    out = []
    for subject, study, images in sorted(studies, key=lambda s: s[1]):
        fronts = [d for d, v in images if v in ("PA", "AP")]
        laterals = [d for d, v in images if v in ("LATERAL", "LL")]
        out += [(f, l, subject, study) for f in fronts for l in laterals]
    return out


def _load(spec, **kw):
    from mmspec import compile_spec
    from runtime.data import load_dataset
    from runtime.data.owndata import spec_data

    name, declared = spec_data(compile_spec(spec))
    return load_dataset(name, declared=declared, **kw)


@pytest.fixture
def tree(tmp_path):
    return tmp_path, write_tree(tmp_path)


def test_pairs_labels_and_subject_split(tree):
    root, written = tree
    spec = own_spec(root / "cxr.mms", BLOCK, MODS, evaluate="latent_probe, elbo")
    check_ok(spec)
    ds = _load(spec, memory="resident")
    pairs = expected_pairs()
    assert len(pairs) == 11
    subjects = sorted({p[2] for p in pairs})
    order = np.array(subjects)[np.random.default_rng(1).permutation(len(subjects))]   # documented split
    cut = {"train": order[:5], "validation": order[5:7], "test": order[7:9]}
    seen = []
    for split, members in cut.items():
        want = [p for p in pairs if p[2] in members]
        assert ds.split_size(split) == len(want) > 0
        batch = ds.batch(split, torch.arange(len(want)))
        for view, col in (("frontal", 0), ("lateral", 1)):
            values = torch.tensor([grey(p[col]) / 255.0 for p in want]).view(-1, 1, 1, 1)
            assert torch.equal(batch[view], values.expand(-1, 1, SIZE, SIZE)), (split, view)
        attrs = ds.attributes(split)
        assert attrs.shape == (len(want), 14)
        assert np.array_equal(attrs.numpy(), np.stack([(written[p[3]] == 1.0).astype(int) for p in want]))
        assert torch.equal(ds.labels(split), attrs[:, 0])
        seen += [p[:2] for p in want]
    assert sorted(seen) == sorted(p[:2] for p in pairs)                # every pair in exactly one split
    assert ds.attribute_names == list(LABELS)
    assert "1 study without a frontal or a lateral view left out" in ds.banner()


def test_streamed_equals_resident_with_workers(tree):
    from runtime.data.streaming import read_ahead

    root, _ = tree
    spec = own_spec(root / "cxr.mms", BLOCK, MODS, evaluate="elbo")
    resident = _load(spec, memory="resident")
    streamed = _load(spec, memory="stream")
    assert "decoded per batch" in streamed.banner()
    n = resident.split_size("train")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(3))
    with read_ahead(streamed, "train", order, 2, workers=2):
        for b in range(n // 2):
            idx = order[2 * b:2 * b + 2]
            a, s = resident.batch("train", idx), streamed.batch("train", idx)
            assert all(torch.equal(a[m], s[m]) for m in ("frontal", "lateral"))


@pytest.mark.parametrize("damage, fragments", [
    ("metadata", ["mimic-cxr-2.0.0-metadata.csv: file not found"]),
    ("image", ["d07.jpg: image not found", "1 image(s) listed"]),
    ("unpaired", ["study s50000007 (subject p13000099) has no lateral image", "1 of 10 studies"]),
    ("column", ["has no column 'ViewPosition'"]),
])
def test_check_errors_at_the_layout_line(tree, damage, fragments):
    root, _ = tree
    block = BLOCK
    folder = root / "mimic"
    if damage == "metadata":
        (folder / "mimic-cxr-2.0.0-metadata.csv").unlink()
    elif damage == "image":
        next(folder.rglob("d07.jpg")).unlink()
    elif damage == "unpaired":
        block = block.replace(" skip unpaired", "")
    else:
        meta = folder / "mimic-cxr-2.0.0-metadata.csv"
        meta.write_text(meta.read_text().replace("ViewPosition", "View"))
    spec = own_spec(root / "bad.mms", block, MODS, evaluate="elbo")
    check_error(spec, *fragments, line=4)
    out = root / "run"
    result = cli("run", spec, "--out", out, "--device", "cpu", "--epochs", "1")
    assert result.exit_code == 1 and "bad.mms:4:" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_layout_clause_mistakes(tree):
    root, _ = tree
    block = BLOCK + '\n    modality frontal from "x.npy"'
    check_error(own_spec(root / "bad.mms", block, MODS, evaluate="elbo"), "drop this clause", line=6)
    mods = MODS.replace("modality lateral", "modality side")
    check_error(own_spec(root / "bad.mms", BLOCK, mods, evaluate="elbo"), "not 'side'",
                "gives the modality 'lateral'")
    check_error(own_spec(root / "bad.mms", BLOCK.replace("mimic_cxr", "mimic"), MODS, evaluate="elbo"),
                "unknown data layout 'mimic'", line=4)


def test_a_corrupt_jpeg_is_named_with_the_spec_line(tree):
    """Resident: `run` fails before writing anything. Streamed: the worker that meets it reports the
    same located message through the training process (no worker traceback)."""
    from runtime.data.errors import DataError
    from runtime.data.streaming import read_ahead

    root, _ = tree
    jpeg = next((root / "mimic").rglob("d05.jpg"))
    jpeg.write_bytes(jpeg.read_bytes()[:100])
    spec = own_spec(root / "cxr.mms", BLOCK, MODS, evaluate="elbo")
    out = root / "run"
    result = cli("run", spec, "--out", out, "--device", "cpu", "--epochs", "1")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cxr.mms:4:5:" in result.output and "d05.jpg: cannot read this image" in result.output
    assert not out.exists()
    streamed = _load(spec, memory="stream")
    n = streamed.split_size("train")
    with pytest.raises(DataError) as err, read_ahead(streamed, "train", torch.arange(n), n, workers=2):
        streamed.batch("train", torch.arange(n))
    assert "cxr.mms:4:5: " in str(err.value)
    assert "d05.jpg" in str(err.value) and "Traceback" not in str(err.value)


SHIPPED = __import__("spec_helpers").ROOT / "specs" / "owndata" / "mmvm_mimic.mms"
FAST = ["--device", "cpu", "--epochs", "1", "--eval-samples", "8", "--probe-samples", "16", "--metrics", "attribute_probe"]


# 24 more subjects with one pair each, so that the test split (a tenth of the subjects) holds both
# values of some labels and their AUROC is defined
MORE = STUDIES + [(17000000 + k, 51000000 + k, [(f"d{30 + 2 * k}", "PA"), (f"d{31 + 2 * k}", "LATERAL")])
                  for k in range(24)]


def _train_shipped(tmp_path, spec):
    write_tree(tmp_path, studies=MORE, name="mimic-cxr-jpg")
    assert cli("check", spec, "--data-root", tmp_path).exit_code == 0
    out = tmp_path / "run"
    result = cli("run", spec, "--data-root", tmp_path, "--out", out, "--cache-dir", tmp_path / "cache", *FAST)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "32 subjects" in result.output and "attribute probes" in result.output
    results = __import__("json").loads((out / "results.json").read_text())
    probe = results["attribute_probe"]
    pairs = expected_pairs(MORE)
    subjects = np.array(sorted({p[2] for p in pairs}))
    test = subjects[np.random.default_rng(0).permutation(32)][26 + 3:]   # train 0.8, validation 0.1, test 0.1
    assert results["dataset"] == "mimic" and probe["attributes"] == list(LABELS)
    assert probe["n_test"] == sum(p[2] in test for p in pairs)
    for view in ("frontal", "lateral"):                  # the paper's z_F and z_L
        assert 0 <= probe["mean_auroc"][view] <= 1 and set(probe["auroc"][view]) <= set(LABELS)
    return results


def test_shipped_spec_trains_on_the_tiny_tree(tmp_path):
    """specs/owndata/mmvm_mimic.mms as shipped but for the image size (224 -> 32: seconds on a CPU)."""
    text = SHIPPED.read_text()
    assert text.count("image(1, 224, 224)") == 2 and "layout mimic_cxr skip unpaired" in text
    spec = tmp_path / "mmvm_mimic.mms"
    spec.write_text(text.replace("image(1, 224, 224)", "image(1, 32, 32)"))
    _train_shipped(tmp_path, spec)


@pytest.mark.slow
def test_shipped_spec_trains_on_the_tiny_tree_at_224(tmp_path):
    _train_shipped(tmp_path, SHIPPED)
