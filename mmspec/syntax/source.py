"""Spec files as text: UTF-8 (a byte-order mark is accepted), anything else a located SpecError.

A spec saved as Latin-1 or UTF-16, or a binary file passed by mistake, must get a message naming
the file, the line and the column of the first byte that is not UTF-8, not a UnicodeDecodeError.
"""
from __future__ import annotations

import codecs
from pathlib import Path

from ..errors import Diagnostic, SpecError, Span

_BOMS = {codecs.BOM_UTF16_LE: "UTF-16", codecs.BOM_UTF16_BE: "UTF-16", codecs.BOM_UTF32_LE: "UTF-32",
         codecs.BOM_UTF32_BE: "UTF-32"}


def read_spec(path) -> str:
    """The text of a spec file, or a SpecError that says why it cannot be read."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise SpecError([], "", str(path), notes=[f"cannot read {p}: {err.strerror}"]) from None
    return decode_spec(data, str(path))


def decode_spec(data: bytes, filename: str) -> str:
    """UTF-8 bytes (with or without a BOM) -> text; newlines normalised as Python's text mode does."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_utf8(data, err, filename) from None
    if "\x00" in text:           # UTF-16 without a byte-order mark decodes as UTF-8 with NULs
        line, col = _position(data, data.index(b"\x00"))
        what = "the file looks like UTF-16" if _guess(data) else "the file holds a NUL byte"
        raise SpecError([Diagnostic(f"{what}: spec files must be UTF-8 text", Span(line, col, line, col + 1),
                                    hint="save the file as UTF-8")], "", filename)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _not_utf8(data: bytes, err: UnicodeDecodeError, filename: str) -> SpecError:
    line, col = _position(data, err.start)
    encoding = _guess(data)
    what = f"the file looks like {encoding}" if encoding else f"byte 0x{data[err.start]:02x} is not UTF-8"
    shown = "".join(c if c.isprintable() or c == "\n" else "\ufffd"
                    for c in data[:err.start].decode("utf-8", "replace"))    # no control bytes to the terminal
    source = (encoding or "latin1").lower()
    return SpecError([Diagnostic(f"{what}: spec files must be UTF-8 text", Span(line, col, line, col + 1),
                                 hint=f"save the file as UTF-8 (e.g. `iconv -f {source} -t utf-8`)")],
                     shown, filename)


def _guess(data: bytes) -> str | None:
    """UTF-16/32 by their byte-order mark, or UTF-16 by NULs in every other byte of ASCII text."""
    for bom in sorted(_BOMS, key=len, reverse=True):       # UTF-32-LE's mark starts with UTF-16-LE's
        if data.startswith(bom):
            return _BOMS[bom]
    head = data[:200]
    if len(head) >= 4 and (head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4):
        return "UTF-16"
    return None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    before = data[:offset]
    line = before.count(b"\n") + 1
    last = before[before.rfind(b"\n") + 1:]
    return line, len(last.decode("utf-8", "replace")) + 1
