"""The MIMIC-CXR-JPG layout (seed 004, section 5.3 and Appendix B.7): `layout mimic_cxr` in a data block.

The official tree (PhysioNet's MIMIC-CXR-JPG 2.0.0 / 2.1.0), under the block's `files` folder:

    mimic-cxr-2.0.0-metadata.csv[.gz]   dicom_id, subject_id, study_id, ..., ViewPosition, ...
    mimic-cxr-2.0.0-chexpert.csv[.gz]   subject_id, study_id, Atelectasis, ..., Support Devices
    files/p10/p10000032/s50414267/<dicom_id>.jpg      files/p{first 2 digits}/p{subject}/s{study}/

As the paper builds its bimodal dataset (B.7.1): an image is *frontal* when its ViewPosition is PA
or AP and *lateral* when it is LATERAL or LL (other views are not used); every frontal image of a
study is paired with every lateral image of the same study (an image may be in several pairs, each
pair is unique); the 14 CheXpert labels are binary, positive (1.0) against everything else
("negative" 0.0, "uncertain" -1.0 and "not mentioned", a blank, are all 0, after Haque et al.
2023); and the split is by subject: the block's `split train 0.8, validation 0.1, test 0.1 seed 0`
cuts a seeded permutation of the subjects, so no subject, study or image is in two splits.

A study without a frontal or without a lateral image is an error located at the `layout` clause,
unless the clause says `layout mimic_cxr skip unpaired`, which leaves such studies out as the paper
does (the count is in the banner). A missing CSV, a missing column, or an image listed in the
metadata whose file is missing are located errors. Reads the two CSVs (pyarrow) and stats the image
files; decodes no image. No torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .decl import DataDecl, Declared
from .formats import DataFileError

LAYOUT = "mimic_cxr"
SKIP_OPTIONS = ("unpaired",)
METADATA = "mimic-cxr-2.0.0-metadata.csv"
CHEXPERT = "mimic-cxr-2.0.0-chexpert.csv"
FRONTAL_VIEWS = ("PA", "AP")
LATERAL_VIEWS = ("LATERAL", "LL")
MODALITIES = ("frontal", "lateral")
LABELS = ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum",
          "Fracture", "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other",
          "Pneumonia", "Pneumothorax", "Support Devices")


@dataclass
class MimicIndex:
    """The pairs: frontal[pair_frontal[i]] and lateral[pair_lateral[i]] are item i, of subject
    subjects[i] and study studies[i], with the 14 binary labels attributes[i]."""

    frontal: list[Path] = field(default_factory=list)
    lateral: list[Path] = field(default_factory=list)
    pair_frontal: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pair_lateral: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    subjects: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    studies: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    attributes: np.ndarray = field(default_factory=lambda: np.zeros((0, len(LABELS)), np.int64))
    skipped_studies: int = 0
    studies_used: int = 0


def image_path(folder: Path, subject: int, study: int, dicom: str) -> Path:
    """The official place of one image: files/p10/p10000032/s50414267/<dicom_id>.jpg."""
    s = str(int(subject))
    return folder / "files" / f"p{s[:2]}" / f"p{s}" / f"s{int(study)}" / f"{dicom}.jpg"


def _csv(folder: Path, name: str, columns: tuple[str, ...], span) -> dict[str, np.ndarray]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path = next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)
    if path is None:
        raise DataFileError(f"{folder / name}: file not found (nor {name}.gz); the mimic_cxr layout needs "
                            f"the official {name} of MIMIC-CXR-JPG in the data folder", span)
    try:
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            column_types={"dicom_id": pa.string(), "ViewPosition": pa.string()}))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataFileError(f"{path}: not a readable CSV ({exc})", span) from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataFileError(f"{path} has no column {missing[0]!r} (it has {', '.join(table.column_names[:16])}); "
                            f"is it the official {name}?", span)
    return {c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}


def build_index(decl: DataDecl, folder: Path) -> MimicIndex:
    """The pairs of the tree under `folder` (see the module docstring); a DataFileError at the
    `layout` clause for what is missing."""
    span = decl.layout_span or decl.span
    meta = _csv(folder, METADATA, ("dicom_id", "subject_id", "study_id", "ViewPosition"), span)
    labels = _csv(folder, CHEXPERT, ("subject_id", "study_id") + LABELS, span)
    views = np.array([str(v).strip().upper() if v is not None else "" for v in meta["ViewPosition"]])
    frontal_rows = np.flatnonzero(np.isin(views, FRONTAL_VIEWS))
    lateral_rows = np.flatnonzero(np.isin(views, LATERAL_VIEWS))
    by_study: dict[int, tuple[int, list[int], list[int]]] = {}
    for rows, slot in ((frontal_rows, 1), (lateral_rows, 2)):
        for r in rows:
            entry = by_study.setdefault(int(meta["study_id"][r]), (int(meta["subject_id"][r]), [], []))
            entry[slot].append(int(r))
    label_of = {int(s): i for i, s in enumerate(labels["study_id"])}
    unpaired = sorted((study, subject, "frontal" if not f else "lateral")
                      for study, (subject, f, l) in by_study.items() if not f or not l)
    if unpaired and decl.layout_skip != "unpaired":
        study, subject, view = unpaired[0]
        raise DataFileError(f"{METADATA}: study s{study} (subject p{subject}) has no {view} image "
                            f"({len(unpaired)} of {len(by_study)} studies lack a frontal or a lateral view); "
                            f"each item pairs a frontal with a lateral image of one study", span)
    index = MimicIndex(skipped_studies=len(unpaired))
    frontal_at: dict[int, int] = {}
    lateral_at: dict[int, int] = {}
    pairs: list[tuple[int, int, int, int, int]] = []
    for study in sorted(by_study):
        subject, fronts, laterals = by_study[study]
        if not fronts or not laterals:
            continue
        if study not in label_of:
            raise DataFileError(f"{CHEXPERT}: no labels for study s{study} (subject p{subject}), which "
                                f"{METADATA} lists", span)
        for r in fronts:
            frontal_at.setdefault(r, len(frontal_at))
        for r in laterals:
            lateral_at.setdefault(r, len(lateral_at))
        pairs += [(frontal_at[f], lateral_at[l], subject, study, label_of[study]) for f in fronts for l in laterals]
    index.studies_used = len(by_study) - len(unpaired)
    if not pairs:
        raise DataFileError(f"{METADATA}: no study has both a frontal (PA/AP) and a lateral (LATERAL/LL) "
                            f"image", span)
    for rows, files in ((frontal_at, index.frontal), (lateral_at, index.lateral)):
        for r in rows:                                  # insertion order = the row numbers given
            files.append(image_path(folder, meta["subject_id"][r], meta["study_id"][r], str(meta["dicom_id"][r])))
    missing = [p for p in index.frontal + index.lateral if not p.is_file()]
    if missing:
        raise DataFileError(f"{missing[0]}: image not found ({len(missing)} image(s) listed in {METADATA} "
                            f"are missing)", span)
    table = np.array(pairs, dtype=np.int64)
    index.pair_frontal, index.pair_lateral = table[:, 0], table[:, 1]
    index.subjects, index.studies = table[:, 2], table[:, 3]
    values = np.stack([np.asarray(labels[c], dtype=np.float64) for c in LABELS], axis=1)[table[:, 4]]
    index.attributes = (values == 1.0).astype(np.int64)           # NaN (blank), 0, -1: negative
    return index


def check_declared(decl: DataDecl, declared: dict[str, Declared]) -> list[tuple[str, object, str | None]]:
    """(message, span, hint) for every clause or modality that does not fit the layout."""
    problems = []
    span = decl.layout_span or decl.span
    if decl.layout != LAYOUT:
        return [(f"unknown data layout '{decl.layout}'", span, f"one of: {LAYOUT}")]
    if decl.layout_skip is not None and decl.layout_skip not in SKIP_OPTIONS:
        problems.append((f"unknown option `skip {decl.layout_skip}`", span, "`skip unpaired`"))
    for clause in list(decl.modalities) + list(decl.labels):
        problems.append(("the mimic_cxr layout gives the modalities (frontal, lateral) and the 14 CheXpert "
                         "labels; drop this clause", clause.span, None))
    if decl.split is not None and decl.split.kind != "fractions":
        problems.append(("the mimic_cxr layout splits by subject: give fractions, e.g. "
                         "`split train 0.8, validation 0.1, test 0.1 seed 0`", decl.split.span, None))
    for name, want in declared.items():
        if name not in MODALITIES:
            problems.append((f"the mimic_cxr layout has modalities frontal and lateral, not '{name}'", want.span,
                             None))
        elif want.kind != "image" or want.shape[0] not in (1, 3):
            problems.append((f"{name} X-rays are images: declare image(1, H, W) (grey) or image(3, H, W)",
                             want.span, None))
    for name in MODALITIES:
        if name not in declared:
            problems.append((f"the mimic_cxr layout gives the modality '{name}', which the spec does not declare",
                             decl.layout_span or decl.span, f"add `modality {name}: image(1, 224, 224) ~ ...`"))
    return problems


def split_by_subject(index: MimicIndex, decl: DataDecl) -> dict[str, np.ndarray]:
    """Pair indices of each split: the split's fractions cut a seeded permutation of the subjects
    (sorted ids, numpy's default_rng(seed).permutation), in the order written."""
    split = decl.split
    subjects = np.unique(index.subjects)
    order = subjects[np.random.default_rng(split.seed).permutation(subjects.size)]
    out, start = {}, 0
    for name, fraction in split.parts:
        count = int(round(float(fraction) * subjects.size))
        out[name] = np.flatnonzero(np.isin(index.subjects, order[start:start + count]))
        start += count
    for name in ("train", "test"):
        if out.get(name, np.zeros(0)).size == 0:
            raise DataFileError(f"the {name} split is empty ({subjects.size} subject(s) to split)", split.span)
    return out
