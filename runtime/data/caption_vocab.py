"""Vocabularies for a spec's own caption files, built from the training split only.

`words`: the captions are tokenised as MMVAE's CUB captions (`vocab.tokenize`); the vocabulary is
`<exc>` (unknown), `<pad>`, `<eos>`, then the most frequent training words (ties: first
appearance), as many as the declared text(L, V) allows; a caption is its first L-1 tokens, `<eos>`
and padding. `chars`: index 0 is the space (padding, and any character not in the vocabulary),
then the most frequent training characters; a caption is its first L characters, space-padded.
When the training split has fewer distinct symbols than V, the remaining indices are unused
placeholders (they keep decoding total). The vocabulary is saved with the run (run.json).
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from runtime.data import vocab as words

UNUSED = "\u2400"      # the placeholder character for unused indices of a character vocabulary


def build(train_lines: Sequence[str], mode: str, size: int) -> str | list[str]:
    """A `size`-symbol vocabulary from the training captions (see the module docstring)."""
    if mode == "words":
        counts = Counter(t for line in train_lines for t in words.tokenize(line))
        order = {t: None for line in train_lines for t in words.tokenize(line)}
        ranked = sorted(order, key=lambda t: -counts[t])     # stable: ties keep first appearance
        kept = [t for t in ranked if t not in words.SPECIALS][: max(0, size - len(words.SPECIALS))]
        vocabulary = list(words.SPECIALS) + kept
        return vocabulary + [f"<unused{i}>" for i in range(size - len(vocabulary))]
    counts = Counter(ch for line in train_lines for ch in line if ch != " ")
    order = {ch: None for line in train_lines for ch in line if ch != " "}
    ranked = sorted(order, key=lambda ch: -counts[ch])[: max(0, size - 1)]
    alphabet = " " + "".join(ranked)
    return alphabet + UNUSED * (size - len(alphabet))


def encode(lines: Sequence[str], mode: str, vocabulary, length: int) -> np.ndarray:
    """int64 [N, length] token indices of every caption."""
    if mode == "words":
        return words.encode([words.tokenize(line) for line in lines], vocabulary, length).numpy()
    index = {ch: i for i, ch in enumerate(vocabulary) if ch != UNUSED}
    out = np.zeros((len(lines), length), dtype=np.int64)
    for row, line in enumerate(lines):
        codes = [index.get(ch, 0) for ch in line[:length]]
        out[row, : len(codes)] = codes
    return out
