"""Character and token text: the MNIST-SVHN-Text alphabet, digit words, encoding and decoding.

MNIST-SVHN-Text (Sutter et al., official MoPoE/MMJSD code) writes the English word of the digit
into a string of 8 spaces at a start position drawn uniformly from [0, 8 - 1 - len(word)] (both
ends included, Python's random.randint) and one-hot encodes it over a 71-character alphabet. The
official code re-draws the position every time an item is read; `encode_words` does the same for a
whole batch in one vectorised step on the labels' device, so evaluation code (Levenshtein distance
of decoded text) can import the alphabet and the encoder from here.

The alphabet, in order: a-z, 0-9, then - , ; . ! ? : ' " \\ / | _ @ # $ % ^ & * ~ ` + - = < > ( ) [ ]
{ } space newline. '-' appears twice (36 and 59); a lookup returns the first (str.find semantics),
so index 59 is never produced by encoding. Space is index 69.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-,;.!?:'\"\\/|_@#$%^&*~`+-=<>()[]{} \n"
SPACE_INDEX = ALPHABET.find(" ")
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
MST_TEXT_LENGTH = 8

assert len(ALPHABET) == 71 and SPACE_INDEX == 69 and ALPHABET.find("-") == 36


def char_index(ch: str, alphabet: str = ALPHABET) -> int:
    """Index of a character, the first occurrence as in the official code; -1 if absent."""
    return alphabet.find(ch)


def _char_lookup(alphabet: str, unknown: int) -> np.ndarray:
    """ASCII code -> alphabet index (first occurrence wins); `unknown` for absent characters."""
    table = np.full(128, unknown, dtype=np.int64)
    for i in range(len(alphabet) - 1, -1, -1):  # reversed so the first occurrence wins
        if ord(alphabet[i]) < 128:
            table[ord(alphabet[i])] = i
    return table


def encode_strings(strings: Sequence[str], length: int, alphabet: str = ALPHABET,
                   lowercase: bool = True) -> Tensor:
    """Strings -> LongTensor [N, length] of alphabet indices.

    Used once at load time (CelebA captions, stand-in text), never in the training loop. Strings
    are right-padded with spaces and truncated to `length`; characters outside the alphabet
    (including any non-ASCII one) become spaces, so every row of the one-hot encoding is a valid
    category (the official code leaves such rows all-zero).
    """
    space = alphabet.find(" ")
    table = _char_lookup(alphabet, space)
    out = np.full((len(strings), length), space, dtype=np.int64)
    for row, s in enumerate(strings):
        s = (s.lower() if lowercase else s)[:length]
        codes = np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        out[row, : len(s)] = np.where(codes < 128, table[np.minimum(codes, 127)], space)
    return torch.from_numpy(out)


def _word_table(device: torch.device) -> tuple[Tensor, Tensor]:
    """[10, 8] alphabet indices of each digit word (space-padded) and [10] word lengths."""
    table = encode_strings(DIGIT_WORDS, MST_TEXT_LENGTH)
    lengths = torch.tensor([len(w) for w in DIGIT_WORDS])
    return table.to(device), lengths.to(device)


def digit_text_indices(labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Digit labels [B] -> alphabet indices [B, 8]: each word at a fresh random start position.

    start = floor(u * (8 - len)) with u ~ U[0, 1) is uniform on {0, ..., 8 - 1 - len}, the official
    range. Drawn with `generator` (on the generator's device, then moved), else the global RNG.
    """
    labels = labels.long()
    device = labels.device
    table, lengths = _word_table(device)
    word_len = lengths[labels]
    gen_device = generator.device if generator is not None else device
    u = torch.rand(labels.shape[0], generator=generator, device=gen_device).to(device)
    start = (u * (MST_TEXT_LENGTH - word_len)).floor().long()
    pos = torch.arange(MST_TEXT_LENGTH, device=device)[None, :] - start[:, None]
    inside = (pos >= 0) & (pos < word_len[:, None])
    chars = table[labels[:, None], pos.clamp(0, MST_TEXT_LENGTH - 1)]
    return torch.where(inside, chars, torch.full_like(chars, SPACE_INDEX))


def one_hot(indices: Tensor, vocab_size: int) -> Tensor:
    """LongTensor [..., L] -> float one-hot [..., L, V]."""
    return F.one_hot(indices.long(), vocab_size).float()


def encode_words(labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Digit labels [B] -> MNIST-SVHN-Text one-hot [B, 8, 71] (float, on the labels' device)."""
    return one_hot(digit_text_indices(labels, generator), len(ALPHABET))


def _argmax(onehot_or_probs: Tensor) -> np.ndarray:
    x = onehot_or_probs
    return (x.argmax(-1) if x.is_floating_point() else x.long()).detach().cpu().numpy()


def decode_chars(onehot_or_probs: Tensor, alphabet: str = ALPHABET) -> list[str]:
    """[B, L, V] one-hot/probabilities/logits (or [B, L] indices) -> B strings, spaces kept."""
    chars = np.array(list(alphabet))
    return ["".join(chars[row]) for row in _argmax(onehot_or_probs)]


def decode_tokens(onehot_or_probs: Tensor, vocabulary: Sequence[str], eos: str = "<eos>",
                  pad: str = "<pad>") -> list[str]:
    """[B, L, V] (or [B, L] indices) -> B strings of words, stopping at <eos>, skipping <pad>."""
    out = []
    for row in _argmax(onehot_or_probs):
        words = []
        for i in row:
            word = vocabulary[int(i)]
            if word == eos:
                break
            if word != pad:
                words.append(word)
        out.append(" ".join(words))
    return out
