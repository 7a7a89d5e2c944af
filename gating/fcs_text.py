"""FCS HEADER and TEXT parsing with every size checked against the bytes present.

Nothing here loops or allocates in proportion to a keyword value before that value has been
checked against the file: ``$PAR`` cannot exceed what the TEXT segment could describe, offsets
are clamped to the buffer, and ``$NEXTDATA`` chains stop at the first repeat.
"""
from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["FCSTextError", "checked_par"]

_LEADING_INT = re.compile(r"\s*([+-]?\d{1,18})")


class FCSTextError(ValueError):
    """A HEADER/TEXT problem; :mod:`gating.sample` turns it into its ``FCSError`` naming the file."""

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem)


def _norm(key: str) -> str:
    """Keyword lookup key: case-insensitive, surrounding blanks and a leading ``$`` ignored."""
    k = key.strip().upper()
    return k[1:] if k.startswith("$") else k


def _parse_text(raw: bytes) -> dict[str, str]:
    """Split a TEXT segment into keyword/value pairs (doubled delimiters are escapes)."""
    if not raw:
        return {}
    delim = raw[:1]
    body = raw[1:]
    # protect escaped (doubled) delimiters, then split
    placeholder = b"\x00\x01ESC\x01\x00"
    body = body.replace(delim + delim, placeholder)
    parts = body.split(delim)
    if parts and parts[-1].strip(b" \r\n\x00") == b"":
        parts = parts[:-1]
    out: dict[str, str] = {}
    for i in range(0, len(parts) - 1, 2):
        k = parts[i].replace(placeholder, delim)
        v = parts[i + 1].replace(placeholder, delim)
        try:
            ks, vs = k.decode("utf-8"), v.decode("utf-8")
        except UnicodeDecodeError:
            ks, vs = k.decode("latin-1"), v.decode("latin-1")
        ks = ks.strip()
        if ks:
            out[ks] = vs
    return out


class _Text:
    """Case-/``$``-insensitive view on the TEXT keywords."""

    def __init__(self, kw: dict[str, str]):
        self.raw = kw
        self.lut = {_norm(k): v for k, v in kw.items()}

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.lut.get(_norm(key), default)

    def int(self, key: str, default: int | None = None) -> int | None:
        """Integer keyword; blanks and trailing junk (``"   768I"``) are ignored, as FlowJo does."""
        v = self.get(key)
        if v is None:
            return default
        try:
            return int(float(v.strip()))
        except (ValueError, OverflowError):
            m = _LEADING_INT.match(v)
            return int(m.group(1)) if m else default

    def float(self, key: str, default: float | None = None) -> float | None:
        v = self.get(key)
        if v is None:
            return default
        try:
            return float(v.strip().replace(",", "."))
        except ValueError:
            return default


def _header(buf: bytes, offset: int, path) -> dict[str, Any]:
    head = buf[offset:offset + 58]
    if len(head) < 58 or not head.startswith(b"FCS"):
        raise FCSTextError(path, "not an FCS file (no 'FCS' HEADER at byte %d)" % offset)
    version = head[3:6].decode("ascii", "replace")
    vals = []
    for j in range(6):
        field = head[10 + 8 * j: 18 + 8 * j].strip()
        try:
            vals.append(int(field) if field else 0)
        except ValueError:
            raise FCSTextError(path, f"HEADER offset field {j + 1} is not a number: {field!r}") from None
    return dict(version=version, text=(vals[0], vals[1]), data=(vals[2], vals[3]), analysis=(vals[4], vals[5]))


def _find_header(buf: bytes, offset: int) -> int | None:
    """Locate a dataset HEADER at ``offset``, tolerating the off-by-one ``$NEXTDATA`` seen in LMD files."""
    for cand in (offset, offset - 1, offset + 1, offset - 2, offset + 2):
        if 0 <= cand and buf[cand:cand + 3] == b"FCS":
            return cand
    return None


def _dataset_offsets(buf: bytes, path) -> list[int]:
    offsets = [0]
    seen = {0}
    while True:
        off = offsets[-1]
        h = _header(buf, off, path)
        t0, t1 = h["text"]
        text = _Text(_parse_text(buf[off + t0: off + t1 + 1]))
        nxt = text.int("NEXTDATA", 0) or 0
        if nxt <= 0:
            break
        found = _find_header(buf, off + nxt)
        if found is None or found in seen:
            break
        offsets.append(found)
        seen.add(found)
    return offsets


def checked_par(text: "_Text", path) -> int:
    """``$PAR``, refused when missing, not positive, or larger than the TEXT segment could describe."""
    npar = text.int("PAR")
    if not npar or npar <= 0:
        raise FCSTextError(path, "missing or invalid $PAR keyword")
    # every parameter needs at least its $PnB keyword (and FCS 3 its $PnN and $PnR)
    if npar > max(1, len(text.raw)):
        raise FCSTextError(path, f"$PAR={npar} but the TEXT segment holds only {len(text.raw)} keywords")
    return npar
