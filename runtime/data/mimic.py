"""MIMIC-CXR-JPG frontal/lateral pairs (`layout mimic_cxr`, mmspec/data/mimic.py) as a MultimodalDataset.

The pairs, labels and subject split come from `mmspec.data.mimic` (the same index `mmspec check`
builds). Images are read as seed 004 preprocesses them (B.7.1): centre-cropped to a square and
resized to the declared size (224 x 224 in the paper; bilinear), grey for image(1, H, W). Each
distinct image is stored once; a pair is two row indices, so an image in several pairs costs
nothing extra. Resident: every image is decoded once, in threads, into uint8 tensors on the device
(`ImageStore` with an item -> image map). Streamed (`residency.choose`): the JPEGs are decoded per
batch by the DataLoader's workers (`streaming.ImageRows`), never all at once; both decode with the
same function, so the batches are the same. Labels: the 14 CheXpert findings as binary attributes
(positive against everything else); the first, Atelectasis, is the class label that coherence and
latent_probe read.
"""
from __future__ import annotations

import numpy as np
import torch

from mmspec.data.mimic import LABELS, MODALITIES, MimicIndex
from mmspec.data.plan import DataPlan, Declared, split_rows

from runtime.data import residency, streaming
from runtime.data.cache import fingerprint
from runtime.data.dataset import DataModality, MultimodalDataset, SplitData
from runtime.data.stores import ImageStore

FIT = "center_crop"


def load_mimic(plan: DataPlan, declared: dict[str, Declared], device: torch.device,
               memory: str) -> MultimodalDataset:
    index: MimicIndex = plan.index
    rows = split_rows(plan)
    files = {"frontal": index.frontal, "lateral": index.lateral}
    item_rows = {"frontal": index.pair_frontal, "lateral": index.pair_lateral}
    where = plan.decl.where(plan.decl.layout_span)
    sources = {m: streaming.ImageRows(files[m], declared[m].shape[0], tuple(declared[m].shape[1:]), FIT, where)
               for m in MODALITIES}
    total = sum(int(np.prod(s.shape)) for s in sources.values())
    resident, why = residency.choose(total, device, memory)
    workers = plan.decl.workers if plan.decl.workers is not None else streaming.default_workers()
    if resident:
        images = {m: torch.from_numpy(_decode_all(sources[m])) for m in MODALITIES}
    else:
        why += f"; JPEGs decoded per batch by {workers} DataLoader worker(s)" if workers else (
            "; JPEGs decoded per batch by the training process")
    attributes = torch.from_numpy(index.attributes)
    splits = {}
    for split, items in rows.items():
        picks = {m: item_rows[m][items] for m in MODALITIES}
        stores = {m: (ImageStore(images[m], torch.from_numpy(picks[m])) if resident else
                      streaming.StreamedStore(sources[m], picks[m], "image", workers=workers))
                  for m in MODALITIES}
        attrs = attributes[torch.from_numpy(items)]
        splits[split] = SplitData(attrs[:, 0].clone(), stores, attrs)
    modalities = {m: DataModality(m, "image", tuple(declared[m].shape), "real",
                                  f"{plan.folder}/files ({len(files[m])} {m} JPEGs) [{fingerprint(files[m][:1000])}]")
                  for m in MODALITIES}
    notes = [why,
             f"{len(index.studies)} frontal-lateral pairs of {index.studies_used} studies, "
             f"{np.unique(index.subjects).size} subjects"
             + (f"; {index.skipped_studies} {'study' if index.skipped_studies == 1 else 'studies'} without a "
                f"frontal or a lateral view left out (`skip unpaired`)" if index.skipped_studies else ""),
             "split by subject: " + ", ".join(f"{s} {len(r)} pairs" for s, r in rows.items())
             + f" (seed {plan.decl.split.seed})"]
    ds = MultimodalDataset(plan.decl.name, modalities, ["0", "1"], splits, notes=notes,
                           label_name=f"attribute {LABELS[0]}", attribute_names=list(LABELS),
                           description=f"MIMIC-CXR-JPG (layout mimic_cxr) from {plan.folder}",
                           folder=str(plan.folder))
    return ds.to(device)


def _decode_all(source: streaming.ImageRows, chunk: int = 2048) -> np.ndarray:
    """Every image of `source` (decoded in threads by `ImageRows`, `chunk` files at a time)."""
    out = np.empty(source.shape, dtype=np.uint8)
    for start in range(0, len(source), chunk):
        out[start:start + chunk] = source[slice(start, start + chunk)]
    return out
