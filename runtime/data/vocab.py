"""Word-level caption vocabularies in the MMVAE CUB format.

MMVAE (Shi et al., `CUBSentences`) tokenises captions with NLTK's word_tokenize, keeps the words
of the training captions that occur more than `min_occ` = 3 times, in order of first appearance,
after three special tokens: `<exc>` (0, any excluded/unknown word), `<pad>` (1) and `<eos>` (2).
A caption becomes its first 31 tokens, `<eos>`, then `<pad>` up to 32. NLTK is not a dependency
here; `tokenize` approximates word_tokenize for caption text: lower-case words, numbers,
clitics ('s, n't) and each punctuation mark as its own token.
"""
from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

import torch
from torch import Tensor

SPECIALS = ("<exc>", "<pad>", "<eos>")
MAX_LENGTH = 32
MIN_OCC = 3
_TOKEN = re.compile(r"n't|'[a-z]+|[a-z0-9]+(?=n't)|[a-z0-9]+(?:-[a-z0-9]+)*|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Caption -> lower-case tokens (see the module docstring)."""
    return _TOKEN.findall(text.lower())


def build_vocabulary(captions: Iterable[Sequence[str]], min_occ: int = MIN_OCC) -> list[str]:
    """Specials, then the tokens occurring more than `min_occ` times, in first-appearance order."""
    counts: Counter = Counter()
    order: dict[str, None] = {}
    for tokens in captions:
        counts.update(tokens)
        order.update(dict.fromkeys(tokens))
    return list(SPECIALS) + [w for w in order if counts[w] > min_occ and w not in SPECIALS]


def encode(captions: Iterable[Sequence[str]], vocabulary: Sequence[str],
           length: int = MAX_LENGTH) -> Tensor:
    """Token lists -> LongTensor [N, length] in the MMVAE layout (see the module docstring)."""
    index = {w: i for i, w in enumerate(vocabulary)}
    exc, pad, eos = index["<exc>"], index["<pad>"], index["<eos>"]
    rows = []
    for tokens in captions:
        ids = [index.get(w, exc) for w in tokens[: length - 1]] + [eos]
        rows.append(ids + [pad] * (length - len(ids)))
    return torch.tensor(rows, dtype=torch.long).view(-1, length)
