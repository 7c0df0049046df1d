"""Reading IDX files (the MNIST format), gzip-compressed or not, with located errors.

An IDX file is a big-endian header - two zero bytes, a type byte (0x08 = unsigned byte), the
number of dimensions - followed by one big-endian uint32 per dimension and the data. MNIST images
have magic 0x00000803 (uint8, 3 dims: N x 28 x 28), labels 0x00000801 (uint8, 1 dim: N). A wrong
magic, a short or over-long file or a broken gzip stream is a `DataError` naming the file.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from runtime.data.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when the name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"{path}: cannot read the file ({_reason(exc)}); it is truncated or "
                        f"not a valid gzip/IDX file. Download it again.") from None


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[0].lower() + text[1:] if text else text


def parse_idx(raw: bytes, path: Path, magic: int, what: str) -> np.ndarray:
    """Parse IDX bytes that must carry `magic`; returns a uint8 array of the header's shape."""
    if len(raw) < 4:
        raise DataError(f"{path}: only {len(raw)} bytes, too short for an IDX header; the file "
                        f"is truncated. Download it again.")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(f"{path}: bad IDX magic number 0x{found:08x}, expected 0x{magic:08x} "
                        f"({what}); the file is corrupt or is not an MNIST {what} file.")
    ndim = found & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated inside the IDX header ({len(raw)} bytes, "
                        f"header needs {header}). Download it again.")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims)             # Python ints: a huge header cannot overflow into a small size
    have = len(raw) - header
    if have != expected:
        problem = "truncated" if have < expected else "longer than its header says"
        raise DataError(f"{path}: {problem}: the header declares {' x '.join(map(str, dims))} "
                        f"= {expected} bytes of data but the file holds {have}. "
                        f"Download it again.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, magic: int, what: str) -> np.ndarray:
    """Read and parse one IDX file (see `parse_idx`)."""
    return parse_idx(read_bytes(path), path, magic, what)


def encode_idx(array: np.ndarray) -> bytes:
    """uint8 array -> IDX bytes (the inverse of `parse_idx`; used to write test fixtures)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.tobytes()
