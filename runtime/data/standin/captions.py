"""Captions that describe the shape stand-in images, in the CUB and the CelebA text formats.

CUB-shaped: word tokens over a fixed vocabulary laid out like the MMVAE CUB vocabulary
(`<exc>` unknown = 0, `<pad>` = 1, `<eos>` = 2, then the words in first-appearance order over the
templates and attribute words), 32 tokens (31 words at most, then `<eos>`, then `<pad>`), several
captions per image from different templates, like CUB's ten captions per image.

CelebA-shaped: a character string in the style of the Bimodal CelebA attribute text (attribute
phrases separated by commas), placed at a random start in [0, 16] of a 256-character line of
spaces and encoded over the 71-character alphabet of `runtime.data.text`.

Captions are cached together with their images under `shapes.VERSION`: bump it when they change.
"""
from __future__ import annotations

import re

import torch
from torch import Tensor

from runtime.data.standin.common import generator
from runtime.data.standin.shapes import COLOURS, SHAPES, SIZES, attribute_words
from runtime.data.text import encode_strings

SPECIALS = ("<exc>", "<pad>", "<eos>")
CAPTION_LENGTH = 32
CELEBA_LENGTH = 256
MAX_START = 16
BACKGROUND_PHRASES = {"brick wall": "a brick wall", "grass": "green grass",
                      "gravel": "grey gravel", "starry sky": "a starry sky"}
TEMPLATES = (
    "a {size} {colour} {shape} on {bg} .",
    "this picture shows a {colour} {shape} in front of {bg} .",
    "the {shape} is {colour} and {size} , and the background is {bg} .",
    "there is a {size} {shape} coloured {colour} over {bg} .",
    "{bg} behind a {size} {colour} {shape} .",
)


def _fill(template: str, words: tuple[str, str, str, str]) -> str:
    shape, colour, size, background = words
    text = template.format(shape=shape, colour=colour, size=size,
                           bg=BACKGROUND_PHRASES[background])
    return re.sub(r"\ba (?=[aeiou])", "an ", text)


def vocabulary() -> list[str]:
    """The fixed caption vocabulary (independent of seed and size): the specials, then every word
    in order of first appearance in the templates, placeholders expanded to their word lists."""
    groups = {"{shape}": SHAPES, "{colour}": list(COLOURS), "{size}": SIZES,
              "{bg}": [w for phrase in BACKGROUND_PHRASES.values() for w in phrase.split()]}
    words: list[str] = list(SPECIALS) + ["an"]
    for template in TEMPLATES:
        for token in template.split():
            words.extend(w for w in groups.get(token, [token]) if w not in words)
    return words


def tokenize_caption(text: str, index: dict[str, int]) -> list[int]:
    """Words -> 32 token ids: truncated to 31, then <eos>, then <pad>; unknown -> <exc>."""
    ids = [index.get(w, index["<exc>"]) for w in text.split()][: CAPTION_LENGTH - 1]
    ids.append(index["<eos>"])
    return ids + [index["<pad>"]] * (CAPTION_LENGTH - len(ids))


def cub_captions(attrs: Tensor, per_image: int, seed: int, split: str) -> Tensor:
    """Token ids [len(attrs) * per_image, 32]: caption j of image i is row i * per_image + j,
    each caption from a randomly chosen template."""
    g = generator(seed, f"cub-captions/{split}")
    vocab = vocabulary()
    index = {w: i for i, w in enumerate(vocab)}
    words = attribute_words(attrs)
    choice = torch.randint(0, len(TEMPLATES), (len(words), per_image), generator=g).tolist()
    rows = [tokenize_caption(_fill(TEMPLATES[t], w), index)
            for w, picks in zip(words, choice) for t in picks]
    return torch.tensor(rows, dtype=torch.long).view(-1, CAPTION_LENGTH)


def celeba_strings(attrs: Tensor, seed: int, split: str) -> list[str]:
    """One comma-separated attribute line per image, shifted right by a random 0..16 spaces."""
    g = generator(seed, f"celeba-text/{split}")
    starts = torch.randint(0, MAX_START + 1, (len(attrs),), generator=g).tolist()
    return [" " * s + f"{size}, {colour}, {shape}, {background}"
            for s, (shape, colour, size, background) in zip(starts, attribute_words(attrs))]


def celeba_text(attrs: Tensor, seed: int, split: str) -> Tensor:
    """Alphabet indices [N, 256] of `celeba_strings`."""
    return encode_strings(celeba_strings(attrs, seed, split), CELEBA_LENGTH)
