"""Datasets for mmspec: real loaders, embedded stand-ins and the device-resident batch API.

    ds = load_dataset("mst", data_root="../shared/data")   # or $MMSPEC_DATA_ROOT
    print(ds.banner())                                      # which modality came from where
    idx = torch.randint(ds.split_size("train"), (256,), device=ds.device)
    batch = ds.batch("train", idx)                          # {"mnist": [256,1,28,28], ...}

Names: mst (MNIST-SVHN-Text), polymnist, tpolymnist (Translated-PolyMNIST), cub (CUB
image-captions), celeba (Bimodal CelebA). Each module documents the real file layout it reads
and the stand-in it falls back to; `runtime.data.text` holds the MNIST-SVHN-Text alphabet and
word encoder that evaluation reuses.
"""
from runtime.data.dataset import DataModality, MultimodalDataset
from runtime.data.errors import DataError
from runtime.data.load import dataset_names, load_dataset

__all__ = ["DataError", "DataModality", "MultimodalDataset", "dataset_names", "load_dataset"]
