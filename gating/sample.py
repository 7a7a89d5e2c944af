"""FCS reading into a :class:`Sample`: events after Gating-ML "FCS scaling", names, spillover.

The reader parses HEADER/TEXT itself and decodes DATA with vectorised numpy, so that it can
tolerate what real instruments write (offset discrepancies, off-by-one ends, high-bit flags in
integer words, missing ``$DATATYPE``, several datasets linked by ``$NEXTDATA``).  Everything it
had to work around is recorded in ``Sample.warnings``; what it cannot read raises
:class:`FCSError` naming the file and the problem.  (flowio is used to *write* FCS files, see
``gating.simulate.write_fcs``, and as the cross-check in the tests.)
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import InputError
from .fcs_text import FCSTextError, _dataset_offsets, _header, _parse_text, _Text, checked_par


class FCSError(InputError):
    """An FCS file that cannot be read; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = str(path) if path is not None else None
        self.problem = problem
        super().__init__(problem, file=Path(path).name if path is not None else None)

__all__ = ["FCSError", "Sample", "read_fcs", "read_fcs_bytes", "read_fcs_metadata", "count_datasets", "parse_spillover"]


class Sample:
    """One FCS dataset: event matrix (n events x p channels, float64) plus its description."""

    def __init__(self, events: np.ndarray, channels: list[str], markers: list[str] | None = None, *,
                 name: str = "sample", path: str | None = None,
                 spillover: tuple[list[str], np.ndarray] | None = None,
                 metadata: dict[str, str] | None = None, warnings: list[str] | None = None,
                 version: str = "") -> None:
        events = np.ascontiguousarray(events, dtype=np.float64)
        if events.ndim != 2 or events.shape[1] != len(channels):
            raise ValueError(f"events must be n x {len(channels)}, got shape {events.shape}")
        self.events = events
        self.channels = list(channels)
        self.markers = list(markers) if markers is not None else [""] * len(channels)
        if len(self.markers) != len(self.channels):
            raise ValueError("markers and channels differ in length")
        self.name = name
        self.path = path
        self.spillover = spillover
        self.metadata = dict(metadata or {})
        self.warnings = list(warnings or [])
        self.version = version

    @classmethod
    def from_array(cls, events: np.ndarray, channels: list[str], markers: list[str] | None = None,
                   name: str = "sample", spillover: tuple[list[str], np.ndarray] | None = None) -> "Sample":
        """Wrap an in-memory event matrix (simulations, tests)."""
        return cls(events, channels, markers, name=name, spillover=spillover)

    @property
    def event_count(self) -> int:
        return int(self.events.shape[0])

    @property
    def channel_count(self) -> int:
        return len(self.channels)

    def channel_index(self, name_or_marker: str | int) -> int:
        """Column of a channel given its ``$PnN`` name, its ``$PnS`` marker, or an index."""
        if isinstance(name_or_marker, (int, np.integer)):
            i = int(name_or_marker)
            if not 0 <= i < len(self.channels):
                raise IndexError(f"{self.name}: channel index {i} out of range")
            return i
        key = str(name_or_marker)
        if key in self.channels:
            return self.channels.index(key)
        if key and key in self.markers:
            return self.markers.index(key)
        low = key.strip().lower()
        for group in (self.channels, self.markers):
            for i, c in enumerate(group):
                if c and c.strip().lower() == low:
                    return i
        raise InputError(f"no channel or marker named '{key}' (channels: {', '.join(self.channels)})",
                         file=self.name)

    def label(self, i: int) -> str:
        """Display label, e.g. ``FL1-A (CD3)``."""
        c, m = self.channels[i], self.markers[i]
        return f"{c} ({m})" if m and m != c else c

    def column(self, name_or_marker: str | int) -> np.ndarray:
        """Events of one channel (a view)."""
        return self.events[:, self.channel_index(name_or_marker)]

    def __repr__(self) -> str:
        return f"Sample({self.name!r}, events={self.event_count}, channels={self.channel_count})"


# ----------------------------------------------------------------------------------- parsing
# HEADER / TEXT parsing lives in gating.fcs_text (size keywords checked against the bytes present)


def count_datasets(path: str | os.PathLike) -> int:
    """Number of datasets in an FCS/LMD file (``$NEXTDATA`` chain)."""
    try:
        return len(_dataset_offsets(_read_bytes(path), path))
    except FCSTextError as exc:
        raise FCSError(path, exc.problem) from None


def parse_spillover(value: str) -> tuple[list[str], np.ndarray]:
    """Parse ``n,det1..detn,v11..vnn`` (SPILL / $SPILLOVER) into ``(detectors, n x n matrix)``."""
    parts = [p.strip() for p in value.split(",")]
    n = int(float(parts[0]))
    if n <= 0 or len(parts) < 1 + n + n * n:
        raise ValueError(f"spillover keyword has {len(parts) - 1} fields, expected {n + n * n}")
    names = parts[1:1 + n]
    mat = np.array([float(x) for x in parts[1 + n:1 + n + n * n]], dtype=np.float64).reshape(n, n)
    return names, mat


def _next_pow2(x: float) -> int:
    x = int(np.ceil(x))
    return 1 << max(0, (x - 1).bit_length())


def _byte_order(text: _Text, path, warns: list[str]) -> str:
    bo = (text.get("BYTEORD") or "").replace(" ", "")
    if bo in ("1,2,3,4", "1,2", "1", "1,2,3,4,5,6,7,8"):
        return "<"
    if bo in ("4,3,2,1", "2,1", "8,7,6,5,4,3,2,1"):
        return ">"
    warns.append(f"unusual $BYTEORD '{bo}', assuming little-endian")
    return "<"


def _read_dataset(buf: bytes, off: int, path, warns: list[str]):
    h = _header(buf, off, path)
    t0, t1 = h["text"]
    if t1 <= t0 or off + t1 >= len(buf) + 1:
        raise FCSError(path, "TEXT segment missing or outside the file")
    kw, text = _keywords(buf, off, t0, t1)
    npar = checked_par(text, path)
    mode = (text.get("MODE") or "L").strip().upper()
    if mode not in ("L", ""):
        raise FCSError(path, f"$MODE '{mode}' (histogram data) is not supported; only list mode")
    dtype_kw, widths, nbytes_ch = _layout(text, npar, path, warns)
    order = _byte_order(text, path, warns)
    row_bytes = sum(nbytes_ch)
    tot = text.int("TOT")
    if dtype_kw == "I" and any(w % 8 for w in widths) and _packed_bits(h, tot, widths, row_bytes):
        return _read_packed(buf, off, h, kw, text, tot, widths, path, warns)
    if dtype_kw == "I" and any(w % 8 for w in widths):
        warns.append(f"$PnB widths {sorted(set(w for w in widths if w % 8))} read as whole 16/32-bit words")
    start, n = _data_location(buf, off, h, text, tot, row_bytes, path, warns)
    events, ints = _decode(buf, start, n, nbytes_ch, order, dtype_kw)
    if dtype_kw == "I":
        _mask_to_range(events, ints, text, nbytes_ch, warns)
    return h, kw, text, events, dtype_kw


def _keywords(buf: bytes, off: int, t0: int, t1: int):
    """TEXT keywords, with the supplemental TEXT segment (FCS 3.x) filling in what is missing."""
    kw = _parse_text(buf[off + t0: off + t1 + 1])
    # supplemental TEXT (FCS 3.x)
    text = _Text(kw)
    s0, s1 = text.int("BEGINSTEXT", 0) or 0, text.int("ENDSTEXT", 0) or 0
    if s1 > s0 > 0 and off + s1 < len(buf):
        extra = _parse_text(buf[off + s0: off + s1 + 1])
        for k, v in extra.items():
            kw.setdefault(k, v)
        text = _Text(kw)
    return kw, text


def _layout(text, npar: int, path, warns: list[str]) -> tuple[str, list, list[int]]:
    """$DATATYPE (guessed from $PnB when missing), $PnB widths and the bytes each value occupies."""
    widths = []
    for i in range(1, npar + 1):
        b = (text.get(f"P{i}B") or "").strip()
        widths.append(int(b) if b.isdigit() else None)
    dtype_kw = (text.get("DATATYPE") or "").strip().upper()
    if dtype_kw not in ("I", "F", "D", "A"):
        ws = set(widths)
        guess = "D" if ws == {64} else ("F" if ws == {32} and text.get("P1R", "").strip() in ("", "262144") else "I")
        warns.append(f"$DATATYPE {'missing' if not dtype_kw else repr(dtype_kw)}; read as '{guess}' from $PnB")
        dtype_kw = guess
    if dtype_kw == "A":
        raise FCSError(path, "ASCII ($DATATYPE A) data is not supported")
    if dtype_kw in ("F", "D"):
        size = 4 if dtype_kw == "F" else 8
        nbytes_ch = [size] * npar
    else:
        if any(w is None or w <= 0 for w in widths):
            raise FCSError(path, "integer data with missing or '*' $PnB widths is not supported")
        if any(w > 64 for w in widths):
            raise FCSError(path, f"integer width {max(widths)} bits is not supported")
        # whole-byte widths are packed as such; odd widths (e.g. 10-bit) sit in 16/32-bit words,
        # unless the DATA segment only holds them as a continuous bit stream (see _packed_bits)
        nbytes_ch = [w // 8 if w % 8 == 0 else (2 if w <= 16 else 4) for w in widths]
        if any(b > 8 for b in nbytes_ch):
            raise FCSError(path, f"integer width {max(widths)} bits is not supported")
    return dtype_kw, widths, nbytes_ch


def _data_location(buf: bytes, off: int, h: dict, text, tot, row_bytes: int, path, warns: list[str]):
    """(start byte, events) of the DATA segment: TEXT (3.x) or HEADER offsets, whichever pair
    holds $TOT events inside the file."""
    # DATA offsets: TEXT (3.x) vs HEADER; choose the pair consistent with $TOT and the file
    hd0, hd1 = h["data"]
    td0, td1 = text.int("BEGINDATA", 0) or 0, text.int("ENDDATA", 0) or 0
    cands = []
    if h["version"].startswith("3") and (td0 or td1):
        cands.append(("TEXT", td0, td1))
    if hd0 or hd1:
        cands.append(("HEADER", hd0, hd1))
    if not cands:
        raise FCSError(path, "no DATA offsets in HEADER or TEXT")
    if len(cands) == 2 and (cands[0][1:] != cands[1][1:]):
        if not (hd0 == 0 and hd1 == 0):
            warns.append(f"DATA offsets differ between HEADER ({hd0}-{hd1}) and TEXT ({td0}-{td1})")
    chosen = None
    for src, d0, d1 in cands:
        nbytes = d1 - d0 + 1
        start = off + d0
        if tot is not None and tot >= 0:
            need = tot * row_bytes
            if start + need <= len(buf) and d0 > 0:
                if nbytes != need:
                    if nbytes == need + 1:
                        warns.append(f"DATA end offset ({src}) is one byte past the data (off-by-one)")
                    elif nbytes < need or abs(nbytes - need) > row_bytes:
                        warns.append(f"DATA segment ({src}) is {nbytes} bytes, $TOT x row size is {need}")
                chosen = (src, start, tot)
                break
        else:
            if d0 > 0 and start + nbytes <= len(buf) + 1:
                n = max(0, min(nbytes, len(buf) - start)) // row_bytes
                warns.append("$TOT missing; event count taken from the DATA segment size")
                chosen = (src, start, n)
                break
    if chosen is None:
        d0 = cands[0][1]
        have = max(0, len(buf) - off - d0)
        raise FCSError(path, f"DATA segment truncated: $TOT={tot} events need {None if tot is None else tot * row_bytes} "
                             f"bytes from offset {d0}, file has {have}")
    if len(cands) == 2 and cands[0][1:] != cands[1][1:]:
        # resolved like FlowJo: the offsets whose segment holds $TOT events inside the file win,
        # TEXT first in FCS 3.x (HEADER fields overflow past 99,999,999 bytes), HEADER in FCS 2.0
        warns.append("used HEADER DATA offsets (TEXT offsets do not fit the file)" if chosen[0] == "HEADER"
                     else "used TEXT DATA offsets (they fit $TOT and the file)")
    _, start, n = chosen
    return start, n


def _mask_to_range(events, ints, text, nbytes_ch: list[int], warns: list[str]) -> None:
    """Mask integer values to $PnR: vendor flags may sit in the unused high bits."""
    masked_ch = []
    for i in range(len(nbytes_ch)):
        r = text.float(f"P{i + 1}R")
        if r and r > 0 and _next_pow2(r) < 2 ** (8 * nbytes_ch[i]):
            col = ints[i] & np.uint64(_next_pow2(r) - 1)
            if np.any(col != ints[i]):
                masked_ch.append(f"P{i + 1}")
            events[:, i] = col
    if masked_ch:
        warns.append(f"high bits above $PnR masked off in {', '.join(masked_ch)}")


def _packed_bits(h: dict, tot: int | None, widths: list[int], row_bytes: int) -> bool:
    """True when the HEADER DATA segment is too short for word-aligned values but fits a bit stream."""
    d0, d1 = h["data"]
    if tot is None or tot <= 0 or d1 <= d0:
        return False
    nbytes = d1 - d0 + 1
    packed = -(-tot * sum(widths) // 8)
    return packed <= nbytes < tot * row_bytes


def _read_packed(buf: bytes, off: int, h: dict, kw: dict, text: "_Text", tot: int, widths: list[int], path,
                 warns: list[str]):
    """Integer values packed as one continuous LSB-first bit stream (FCS 2.0 ``$PnB`` = 9 etc.).

    Event 0 / parameter 1 is ``byte0 | (byte1 & 1) << 8`` for 9-bit data, whatever ``$BYTEORD`` says
    (checked against FlowJo's stored counts on the FlowJo tutorial files).
    """
    d0 = h["data"][0]
    row_bits = sum(widths)
    need = -(-tot * row_bits // 8)
    start = off + d0
    if start + need > len(buf):
        raise FCSError(path, f"DATA segment truncated: {tot} bit-packed events need {need} bytes from offset "
                             f"{d0}, file has {max(0, len(buf) - start)}")
    bits = np.unpackbits(np.frombuffer(buf, dtype=np.uint8, count=need, offset=start), bitorder="little")
    bits = bits[:tot * row_bits].reshape(tot, row_bits)
    cols, pos = [], 0
    for w in widths:
        weights = np.left_shift(np.uint64(1), np.arange(w, dtype=np.uint64))
        cols.append(bits[:, pos:pos + w].astype(np.uint64) @ weights)
        pos += w
    warns.append(f"$PnB {sorted(set(widths))}: values read as an LSB-first bit stream ({need} bytes)")
    events = np.column_stack(cols).astype(np.float64)
    return h, kw, text, events, "I"


def _decode(buf: bytes, start: int, n: int, nbytes_ch: list[int], order: str, dtype_kw: str):
    """DATA bytes -> (events float64 n x p, list of per-channel uint64 arrays for integer data)."""
    npar = len(nbytes_ch)
    if dtype_kw in ("F", "D"):
        dt = np.dtype(order + ("f4" if dtype_kw == "F" else "f8"))
        with np.errstate(invalid="ignore"):  # signalling NaNs in corrupt files stay NaN
            return np.frombuffer(buf, dtype=dt, count=n * npar, offset=start).reshape(n, npar).astype(np.float64), None
    row = sum(nbytes_ch)
    if len(set(nbytes_ch)) == 1 and nbytes_ch[0] in (1, 2, 4, 8):
        dt = np.dtype(order + f"u{nbytes_ch[0]}")
        raw = np.frombuffer(buf, dtype=dt, count=n * npar, offset=start).reshape(n, npar)
        ints = [raw[:, i].astype(np.uint64) for i in range(npar)]
    else:
        by = np.frombuffer(buf, dtype=np.uint8, count=n * row, offset=start).reshape(n, row)
        ints, pos = [], 0
        for b in nbytes_ch:
            cols = by[:, pos:pos + b].astype(np.uint64)
            if order == ">":
                cols = cols[:, ::-1]
            shifts = (np.arange(b, dtype=np.uint64) * np.uint64(8))
            ints.append(np.bitwise_or.reduce(cols << shifts, axis=1) if b > 1 else cols[:, 0])
            pos += b
    events = np.column_stack(ints).astype(np.float64) if ints else np.empty((n, 0))
    return events, ints


def _channel_info(text: _Text, npar: int) -> tuple[list[str], list[str]]:
    channels, markers = [], []
    for i in range(1, npar + 1):
        n = (text.get(f"P{i}N") or "").strip() or f"P{i}"
        s = (text.get(f"P{i}S") or "").strip()
        channels.append(n)
        markers.append(s)
    # make duplicate $PnN unique so that channel names identify columns
    seen: dict[str, int] = {}
    for i, c in enumerate(channels):
        if c in seen:
            seen[c] += 1
            channels[i] = f"{c}_{seen[c]}"
        else:
            seen[c] = 1
    return channels, markers


def _fcs_scaling(events: np.ndarray, text: _Text, channels: list[str], warns: list[str],
                 apply_timestep: bool, dtype_kw: str) -> None:
    """In place: undo ``$PnE`` log amplification and ``$PnG`` gain (Gating-ML "FCS scaling")."""
    for i, ch in enumerate(channels):
        e = (text.get(f"P{i + 1}E") or "0,0").replace(" ", "")
        try:
            f1, f2 = (float(x) for x in e.split(",")[:2])
        except ValueError:
            warns.append(f"P{i + 1}: invalid $P{i + 1}E '{e}', treated as linear")
            f1, f2 = 0.0, 0.0
        is_time = ch.strip().lower() == "time"
        if f1 > 0 and dtype_kw == "I":
            if f2 <= 0:
                f2 = 1.0
            r = text.float(f"P{i + 1}R") or 1.0
            with np.errstate(over="ignore", invalid="ignore"):
                events[:, i] = f2 * np.power(10.0, f1 * events[:, i] / r)
            if not np.isfinite(events[:, i]).all():
                warns.append(f"P{i + 1}: $P{i + 1}E '{e}' gives non-finite values")
        else:
            g = text.float(f"P{i + 1}G", 1.0) or 1.0
            if g not in (0.0, 1.0) and not is_time:
                events[:, i] /= g
        if is_time and apply_timestep:
            ts_raw = text.get("TIMESTEP")
            if ts_raw is not None:
                try:
                    ts = float(ts_raw.strip())
                    events[:, i] *= ts
                except ValueError:
                    warns.append(f"$TIMESTEP '{ts_raw}' is not a number; time left unscaled")


def read_fcs_metadata(path: str | os.PathLike, *, dataset: int = 0) -> dict[str, str]:
    """TEXT keywords of one dataset without decoding events."""
    buf = _read_bytes(path)
    try:
        offs = _dataset_offsets(buf, path)
        if not 0 <= dataset < len(offs):
            raise FCSError(path, f"dataset {dataset} requested, file holds {len(offs)}")
        h = _header(buf, offs[dataset], path)
    except FCSTextError as exc:
        raise FCSError(path, exc.problem) from None
    t0, t1 = h["text"]
    return _parse_text(buf[offs[dataset] + t0: offs[dataset] + t1 + 1])


def _read_bytes(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise FCSError(path, "file not found") from None
    except OSError as exc:
        raise FCSError(path, f"cannot read file ({exc.strerror or exc})") from None


def read_fcs(path: str | os.PathLike, *, dataset: int = 0, apply_timestep: bool = False) -> Sample:
    """Read one dataset of an FCS 2.0/3.0/3.1 (or LMD) file.

    Events get FCS scaling (``$PnE`` log decoding for integer data, ``$PnG`` gain division on
    linear channels other than Time); ``apply_timestep`` also multiplies Time by ``$TIMESTEP``.
    Files with several datasets (Beckman LMD) default to the first; choose another with
    ``dataset=``.  Any problem that prevents reading raises :class:`FCSError`.
    """
    path = Path(path)
    return read_fcs_bytes(_read_bytes(path), path, dataset=dataset, apply_timestep=apply_timestep)


def read_fcs_bytes(buf: bytes, path: str | os.PathLike = "memory.fcs", *, dataset: int = 0,
                   apply_timestep: bool = False) -> Sample:
    """:func:`read_fcs` on the bytes of a file already in memory (``path`` names it in messages)."""
    path = Path(path)
    if len(buf) < 58:
        raise FCSError(path, f"file is only {len(buf)} bytes; not an FCS file")
    warns: list[str] = []
    try:
        offs = _dataset_offsets(buf, path)
        if not 0 <= dataset < len(offs):
            raise FCSError(path, f"dataset {dataset} requested, file holds {len(offs)}")
        if len(offs) > 1 and dataset == 0:
            warns.append(f"file holds {len(offs)} datasets; read dataset 0 (choose with dataset=)")
        h, kw, text, events, dtype_kw = _read_dataset(buf, offs[dataset], path, warns)
        channels, markers = _channel_info(text, events.shape[1])
        _fcs_scaling(events, text, channels, warns, apply_timestep, dtype_kw)
    except FCSError:
        raise
    except FCSTextError as exc:
        raise FCSError(path, exc.problem) from None
    except (ValueError, IndexError, KeyError, OverflowError) as exc:
        raise FCSError(path, f"malformed FCS file ({exc})") from None
    spill = None
    for key in ("SPILL", "SPILLOVER", "COMP"):
        v = text.get(key)
        if v and v.strip() and v.strip() not in ("0",):
            try:
                names, mat = parse_spillover(v)
            except (ValueError, IndexError, OverflowError):
                warns.append(f"keyword {key} could not be parsed as a spillover matrix; ignored")
                continue
            if all(x.isdigit() and 1 <= int(x) <= len(channels) for x in names):
                names = [channels[int(x) - 1] for x in names]  # Accuri writes parameter numbers
            spill = (names, mat)
            break
    tot = text.int("TOT")
    if tot is not None and tot != events.shape[0]:
        warns.append(f"$TOT={tot} but {events.shape[0]} events decoded")
    return Sample(events, channels, markers, name=path.stem, path=str(path), spillover=spill,
                  metadata=kw, warnings=warns, version=h["version"])
