"""Seeded fuzz test of the FCS reader: >= 10,000 mutated real files, each read returns or raises
FCSError within a second (no hang, no builtin exception).

Mutations: HEADER offsets, absurd TEXT keyword values ($PAR, $TOT, $PnB, $DATATYPE, $BYTEORD,
$PnE, offsets, $NEXTDATA, spillover), delimiters, byte flips, truncation and trailing bytes.
Files are mutated in memory and read with ``read_fcs_bytes``.
"""
from __future__ import annotations

import re
import signal
import time

import numpy as np
import pytest

from gating.sample import FCSError, Sample, read_fcs_bytes

SEEDS = [
    "fcs/flowkit/data_set_simple_line_100.fcs",
    "fcs/flowkit/test_data_2d_01.fcs",
    "fcs/flowio/variable_int_example.fcs",
    "fcs/flowio/data_start_offset_discrepancy_example.fcs",
    "fcs/flowio/data_stop_offset_discrepancy_example.fcs",
    "fcs/fcsparser/sample_header.fcs",
    "fcs/fcsparser/cyflow_cube_8.fcs",
    "fcs/flowkit/index_sorted_example.fcs",
    "flowjo-labkey/advanced/931115-D02- Sample 03.fcs",
    "flowjo-labkey/flowjoquery/miniFCS/118795.fcs",
]
N_CASES = 10_000
KEYS = ["$PAR", "$TOT", "$P1B", "$P2B", "$DATATYPE", "$BYTEORD", "$P1E", "$P2E", "$BEGINDATA", "$ENDDATA",
        "$NEXTDATA", "$P1R", "$P1G", "$MODE", "$BEGINSTEXT", "$ENDSTEXT", "$SPILLOVER", "SPILL", "$TIMESTEP"]
ABSURD = [b"1000000000000", b"99999999999999999999999", b"-5", b"0", b"", b" ", b"abc", b"1e308", b"nan",
          b"inf", b"-inf", b" 12 ", b"*", b"3.84,0.2", b"1e300,1e-300", b"9", b"7", b"65", b"128", b"F", b"D",
          b"A", b"I", b"X", b"4,3,2,1", b"1,2,3,4", b"1,2", b"2,1", b"8,7,6,5,4,3,2,1", b"3,1,4,2", b"1,2,3",
          b"0,0", b"5,0", b"-1,-1", b"2,a,b,1,0,0,1", b"1000000,x", b"3,a,b", b"C", b"H", b"10.5", b"0x10"]


def _text_span(buf: bytes) -> tuple[int, int]:
    try:
        return int(buf[10:18].strip() or 0), int(buf[18:26].strip() or 0)
    except ValueError:
        return 58, min(len(buf), 2048) - 1


def _set_keyword(buf: bytes, rng: np.random.Generator) -> bytes:
    t0, t1 = _text_span(buf)
    if not 0 < t0 < t1 < len(buf):
        return buf
    text = buf[t0:t1 + 1]
    delim = text[:1]
    key = KEYS[rng.integers(len(KEYS))].encode()
    value = ABSURD[rng.integers(len(ABSURD))]
    pat = re.escape(delim) + re.escape(key) + re.escape(delim) + b"([^" + re.escape(delim) + b"]*)"
    m = re.search(pat, text, flags=re.IGNORECASE)
    if m:
        new = text[:m.start(1)] + value + text[m.end(1):]
    else:
        new = text[:-1] + delim + key + delim + value + delim
    if rng.random() < 0.5:  # keep the HEADER consistent half of the time
        end = f"{t0 + len(new) - 1:8d}".encode()
        head = buf[:18] + end + buf[26:t0] if len(end) == 8 else buf[:t0]
        return head + new + buf[t1 + 1:]
    return buf[:t0] + new + buf[t1 + 1:]


def _header_field(buf: bytes, rng: np.random.Generator) -> bytes:
    j = int(rng.integers(6))
    old = buf[10 + 8 * j:18 + 8 * j].strip()
    nudged = max(0, int(old) + int(rng.integers(-3, 4))) if old.isdigit() else 0
    choices = [f"{rng.integers(0, 2 * len(buf) + 2):8d}", "99999999", "      -1", "        ", "  12ab  ",
               f"{nudged:8d}", "00000000", "1e3     "]
    field = choices[rng.integers(len(choices))][:8].encode().ljust(8)
    return buf[:10 + 8 * j] + field + buf[18 + 8 * j:]


def _delimiter(buf: bytes, rng: np.random.Generator) -> bytes:
    t0, t1 = _text_span(buf)
    if not 0 < t0 < t1 < len(buf):
        return buf
    text = bytearray(buf[t0:t1 + 1])
    d = text[0]
    mode = rng.integers(4)
    if mode == 0:
        text[0] = int(rng.choice([ord("|"), ord("/"), ord(" "), 0, 12, ord("$")]))
    elif mode == 1:
        text = bytearray(bytes(text).replace(bytes([d]), bytes([int(rng.integers(1, 256))])))
    elif mode == 2:
        i = int(rng.integers(len(text)))
        text[i:i] = bytes([d, d])  # an escaped delimiter in the middle of something
    else:
        idx = [i for i, c in enumerate(text) if c == d]
        for i in rng.choice(idx, size=min(len(idx), 3), replace=False):
            text[int(i)] = ord("x")
    return buf[:t0] + bytes(text) + buf[t1 + 1:]


def _flip(buf: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(buf)
    lim = min(len(b), 4096)
    for _ in range(int(rng.integers(1, 8))):
        b[int(rng.integers(lim))] = int(rng.integers(256))
    return bytes(b)


def _truncate(buf: bytes, rng: np.random.Generator) -> bytes:
    return buf[:int(rng.integers(0, len(buf)))]


def _trailing(buf: bytes, rng: np.random.Generator) -> bytes:
    tail = [rng.bytes(int(rng.integers(1, 200))), b"\x00", buf[:58], b"FCS3.0    " + b" " * 48]
    return buf + tail[rng.integers(len(tail))]


MUTATORS = [_set_keyword, _set_keyword, _set_keyword, _header_field, _delimiter, _flip, _truncate, _trailing]


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def fuzz(seeds: list[bytes], n: int, seed: int = 12) -> dict:
    """Read ``n`` mutated files; returns outcome counts, the slowest read and any failures."""
    rng = np.random.default_rng(seed)
    out = {"ok": 0, "FCSError": 0, "slowest": 0.0, "failures": []}
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for i in range(n):
            buf = seeds[i % len(seeds)]
            for _ in range(int(rng.integers(1, 4))):
                buf = MUTATORS[rng.integers(len(MUTATORS))](buf, rng)
            t = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, 2.0)
            try:
                s = read_fcs_bytes(buf, f"case{i}.fcs")
                assert isinstance(s, Sample) and s.events.shape == (s.event_count, len(s.channels))
                out["ok"] += 1
            except FCSError:
                out["FCSError"] += 1
            except _Hang:
                out["failures"].append((i, "hang > 2 s"))
            except Exception as exc:  # noqa: BLE001 - the point: any other exception is a failure
                out["failures"].append((i, f"{type(exc).__name__}: {exc}"))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            dt = time.perf_counter() - t
            out["slowest"] = max(out["slowest"], dt)
            if dt > 1.0:
                out["failures"].append((i, f"took {dt:.2f} s"))
    finally:
        signal.signal(signal.SIGALRM, old)
    return out


def test_fuzzed_fcs_files_return_or_raise_fcserror_quickly(shared_dir):
    seeds = [(shared_dir / "data" / s).read_bytes() for s in SEEDS]
    t = time.perf_counter()
    res = fuzz(seeds, N_CASES)
    elapsed = time.perf_counter() - t
    assert res["failures"] == []
    assert res["ok"] + res["FCSError"] == N_CASES >= 10_000
    assert res["ok"] > 1000 and res["FCSError"] > 1000  # both outcomes are exercised
    assert res["slowest"] < 1.0 and elapsed < 90


@pytest.mark.parametrize("key,value", [("$PAR", "1000000000000"), ("$TOT", "1000000000000000"),
                                       ("$PAR", "-3"), ("$TOT", "99999999999999999999999"), ("$PAR", "27")])
def test_absurd_size_keywords_are_refused_fast(shared_dir, key, value):
    """A $PAR of 10^12 used to make the reader loop over every parameter (a hang)."""
    buf = (shared_dir / "data/fcs/flowkit/data_set_simple_line_100.fcs").read_bytes()
    t0, t1 = _text_span(buf)
    text = buf[t0:t1 + 1]
    d = text[:1]
    m = re.search(re.escape(d + key.encode() + d) + b"([^" + re.escape(d) + b"]*)", text)
    assert m is not None
    bad = buf[:t0] + text[:m.start(1)] + value.encode() + text[m.end(1):] + buf[t1 + 1:]
    t = time.perf_counter()
    with pytest.raises(FCSError):
        read_fcs_bytes(bad, "absurd.fcs")
    assert time.perf_counter() - t < 1.0
