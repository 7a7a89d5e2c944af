"""Scale transforms of Gating-ML 2.0 (flin, flog, fasinh, logicle, hyperlog, fratio) and FlowJo biex.

Every transform is a frozen dataclass with an ``id``, ``apply(x)`` and ``inverse(y)``.
``bound_min`` / ``bound_max`` implement the Gating-ML ``boundMin``/``boundMax``
attributes: transformed values are clamped into the bounds before any gate test.
Logicle and hyperlog are flowutils-exact: the forward scale comes from
:mod:`gating.logicle_table` (a table of flowutils' solutions plus one Newton step, ~1e-14
from flowutils and much faster on large samples); the inverse is flowutils' C code.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from flowutils import transforms as _fu
from scipy.optimize import brentq

from .logicle_table import fast_scale

_LN10 = float(np.log(10.0))

__all__ = [
    "Transform", "LinearTransform", "LogTransform", "LogicleTransform", "AsinhTransform",
    "HyperlogTransform", "RatioTransform", "FlowJoBiexTransform", "FlowJoLogTransform", "FlowJoDisplayTransform",
    "make_transform", "transform_from_dict", "biex_lut", "TRANSFORM_KINDS",
]


def _as_float(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class Transform:
    """Base class: clamping into ``[bound_min, bound_max]`` after the forward transform."""

    id: str

    def _forward(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _backward(self, y: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def apply(self, x: Any) -> np.ndarray:
        """Transform raw values ``x`` (any shape) and clamp into the Gating-ML bounds."""
        with np.errstate(all="ignore"):
            y = self._forward(_as_float(x))
        lo, hi = getattr(self, "bound_min", None), getattr(self, "bound_max", None)
        if lo is not None or hi is not None:
            y = np.clip(y, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        return y

    def inverse(self, y: Any) -> np.ndarray:
        """Map transformed values back to the raw scale (bounds are not undone)."""
        with np.errstate(all="ignore"):
            return self._backward(_as_float(y))

    @property
    def kind(self) -> str:
        return _KIND_OF[type(self)]

    def to_dict(self) -> dict:
        """JSON-safe description; ``transform_from_dict`` rebuilds it."""
        d = {"kind": self.kind}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            d[f.name] = list(v) if isinstance(v, tuple) else v
        return d


@dataclass(frozen=True)
class LinearTransform(Transform):
    """Gating-ML ``flin``: ``(x + A) / (T + A)``."""

    t: float = 262144.0
    a: float = 0.0
    bound_min: float | None = None
    bound_max: float | None = None

    def _forward(self, x):
        y = np.add(x, self.a)  # (x + A) / (T + A), one new array
        y /= self.t + self.a
        return y

    def _backward(self, y):
        return y * (self.t + self.a) - self.a


@dataclass(frozen=True)
class LogTransform(Transform):
    """Gating-ML ``flog``: ``log10(x / T) / M + 1``; non-positive x map to -inf (so ``boundMin`` clamps them)."""

    t: float = 262144.0
    m: float = 4.5
    bound_min: float | None = None
    bound_max: float | None = None

    def _forward(self, x):
        return np.where(x > 0, np.log10(np.where(x > 0, x, 1.0) / self.t) / self.m + 1.0, -np.inf)

    def _backward(self, y):
        return self.t * 10.0 ** ((y - 1.0) * self.m)


@dataclass(frozen=True)
class AsinhTransform(Transform):
    """Gating-ML ``fasinh``: ``(asinh(x sinh(M ln10) / T) + A ln10) / ((M + A) ln10)``."""

    t: float = 262144.0
    m: float = 4.5
    a: float = 0.0
    bound_min: float | None = None
    bound_max: float | None = None

    def _forward(self, x):
        # (asinh(x sinh(M ln10) / T) + A ln10) / ((M + A) ln10), the same operations in one new array
        y = np.multiply(x, np.sinh(self.m * _LN10))
        y /= self.t
        np.arcsinh(y, out=y)
        y += self.a * _LN10
        y /= (self.m + self.a) * _LN10
        return y

    def _backward(self, y):
        return np.sinh(y * (self.m + self.a) * _LN10 - self.a * _LN10) * self.t / np.sinh(self.m * _LN10)


def _flowutils_1d(fn, x: np.ndarray, **params) -> np.ndarray:
    flat = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
    if flat.size == 0:
        return flat.reshape(x.shape)
    out = fn(flat, None, **params)
    return np.asarray(out, dtype=np.float64).reshape(x.shape)



@dataclass(frozen=True)
class _BiexponentialTransform(Transform):
    """Shared body of logicle and hyperlog: same ``(T, W, M, A)``; forward from the table in
    :mod:`gating.logicle_table`, inverse from flowutils' C code (``<kind>_inverse``)."""

    t: float = 262144.0
    w: float = 0.5
    m: float = 4.5
    a: float = 0.0
    bound_min: float | None = None
    bound_max: float | None = None
    _kind = ""  # class attribute (no annotation): not a dataclass field

    def _forward(self, x):
        return fast_scale(self._kind, x, self.t, self.w, self.m, self.a)

    def _backward(self, y):
        inverse = getattr(_fu, f"{self._kind}_inverse")
        return _flowutils_1d(inverse, y, t=self.t, m=self.m, w=self.w, a=self.a)


@dataclass(frozen=True)
class LogicleTransform(_BiexponentialTransform):
    """Gating-ML ``logicle(T, W, M, A)`` (Moore & Parks 2012); flowutils-exact, vectorised."""

    _kind = "logicle"


@dataclass(frozen=True)
class HyperlogTransform(_BiexponentialTransform):
    """Gating-ML ``hyperlog(T, W, M, A)``; flowutils-exact, vectorised."""

    _kind = "hyperlog"


@dataclass(frozen=True)
class RatioTransform(Transform):
    """Gating-ML ``fratio``: ``A (x1 - B) / (x2 - C)`` of two channels.

    ``apply`` takes an ``n x 2`` array (numerator, denominator columns), already
    compensated as the gate dimension asks. It has no inverse.
    """

    channels: tuple[str, str] = ("", "")
    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    bound_min: float | None = None
    bound_max: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) != 2:
            raise ValueError(f"ratio transform {self.id!r} needs exactly two channels")

    def _forward(self, x):
        x = np.atleast_2d(x)
        return self.a * (x[:, 0] - self.b) / (x[:, 1] - self.c)

    def _backward(self, y):
        raise NotImplementedError("a ratio transform has no inverse")


# --- FlowJo biex (look-up table, as FlowJo computes it) -------------------------------------------

def _log_root(b: float, w: float) -> float:
    """Root d in (0, b] of ``2 ln d + w d = 2 ln b - w b`` (negative range of the biex)."""
    if w == 0:
        return b
    f = lambda d: 2.0 * np.log(d) + w * d - 2.0 * np.log(b) + w * b  # noqa: E731
    lo = 1e-300
    if f(b) <= 0:
        return b
    return float(brentq(f, lo, b, xtol=1e-14, rtol=1e-14, maxiter=500))


@lru_cache(maxsize=64)
def biex_lut(width: float = -10.0, negative: float = 0.0, positive: float = 4.41854,
             max_value: float = 262144.000029, channel_range: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """FlowJo's biex look-up table: ``(data_values, channels)`` for channels ``0..channel_range``.

    Re-derived from FlowJo's published Java algorithm (as ported to cytolib): the
    positive and negative exponentials are blended around a zero channel placed by
    ``negative`` and ``width`` (``width`` is FlowJo's negative "width basis").
    """
    width_dec = np.log10(-width)
    decades = positive - width_dec / 2.0
    extra = max(negative, 0.0) + width_dec / 2.0
    zero = int(extra * channel_range / (extra + decades))
    zero = int(min(zero, channel_range / 2))
    if zero > 0:
        decades = extra * channel_range / zero
    w = width_dec / (2.0 * decades)
    pos_range = _LN10 * decades
    minimum = max_value / np.exp(pos_range)
    neg_range = _log_root(pos_range, w)
    n = channel_range + 1
    idx = np.arange(n, dtype=np.float64)
    pos = np.exp(idx / n * pos_range)
    neg = np.exp(idx / n * -neg_range) * np.exp((pos_range + neg_range) * (w + extra / decades))
    shift = pos[zero] - neg[zero]
    data = np.empty(n)
    data[zero:] = minimum * ((pos[zero:] - neg[zero:]) - shift)
    mirror = 2 * zero - np.arange(zero)
    data[:zero] = -data[mirror]
    data.setflags(write=False)
    idx.setflags(write=False)
    return data, idx


@dataclass(frozen=True)
class FlowJoBiexTransform(Transform):
    """FlowJo 10 "biex" (``width`` basis < 0, ``negative`` and ``positive`` decades, ``max_value``).

    Values are mapped by linear interpolation in FlowJo's look-up table onto channel
    units ``0..channel_range`` (FlowJo stores biex gate coordinates in these units);
    values beyond the table are clamped to its ends, as FlowJo does.
    """

    width: float = -10.0
    negative: float = 0.0
    positive: float = 4.41854
    max_value: float = 262144.000029
    channel_range: int = 4096
    bound_min: float | None = None
    bound_max: float | None = None

    def _lut(self):
        return biex_lut(float(self.width), float(self.negative), float(self.positive),
                        float(self.max_value), int(self.channel_range))

    def _forward(self, x):
        data, chan = self._lut()
        return np.interp(x, data, chan)

    def _backward(self, y):
        data, chan = self._lut()
        return np.interp(y, chan, data)


@dataclass(frozen=True)
class FlowJoLogTransform(Transform):
    """FlowJo 10 "log" axis: ``log10(max(x, offset) / offset) / decades``."""

    offset: float = 1.0
    decades: float = 4.5
    bound_min: float | None = None
    bound_max: float | None = None

    def _forward(self, x):
        return (np.log10(np.maximum(x, self.offset)) - np.log10(self.offset)) / self.decades

    def _backward(self, y):
        return self.offset * 10.0 ** (y * self.decades)


@dataclass(frozen=True)
class FlowJoDisplayTransform(Transform):
    """FlowJo 7/8/9 display scale of one parameter: data value -> display channel ``0..range``.

    ``scale`` is ``"linear"`` (``(x - low) / (high - low) * range``), ``"log"``
    (``range * log10(max(x, low) / low) / decades``) or ``"table"`` (FlowJo's calibration table:
    ``table[i]`` is the data value of channel ``i * range / (len(table) - 1)``).  With ``binned``
    every value is moved to its display bin, ``floor(channel) + bin_offset`` clamped to
    ``0..range - 1``: this is FlowJo-compatible counting (FlowJo tests gates on binned
    display data, not on exact event values).
    """

    scale: str = "linear"
    range: float = 4096.0
    low: float = 0.0
    high: float = 262144.0
    decades: float = 4.0
    table: tuple[float, ...] = ()
    binned: bool = False
    bin_offset: float = 0.5
    bound_min: float | None = None
    bound_max: float | None = None

    def channels(self, x: Any) -> np.ndarray:
        """Unbinned display channel of raw values ``x``."""
        x = _as_float(x)
        with np.errstate(all="ignore"):
            if self.scale == "log":
                return self.range * np.log10(np.maximum(x, self.low) / self.low) / self.decades
            if self.scale == "table":
                vals = np.asarray(self.table, dtype=np.float64)
                chans = np.linspace(0.0, self.range, len(vals))
                return np.interp(x, vals, chans)
            return (x - self.low) / (self.high - self.low) * self.range

    def _forward(self, x):
        ch = self.channels(x)
        if not self.binned:
            return ch
        return np.clip(np.floor(ch + 1e-9), 0.0, self.range - 1.0) + self.bin_offset

    def _backward(self, y):
        y = _as_float(y)
        if self.scale == "log":
            return self.low * 10.0 ** (y * self.decades / self.range)
        if self.scale == "table":
            vals = np.asarray(self.table, dtype=np.float64)
            return np.interp(y, np.linspace(0.0, self.range, len(vals)), vals)
        return self.low + y / self.range * (self.high - self.low)


_KIND_OF = {
    LinearTransform: "linear", LogTransform: "log", LogicleTransform: "logicle",
    AsinhTransform: "arcsinh", HyperlogTransform: "hyperlog", RatioTransform: "ratio",
    FlowJoBiexTransform: "biex", FlowJoLogTransform: "flowjo_log",
    FlowJoDisplayTransform: "flowjo_display",
}
_CLASS_OF = {v: k for k, v in _KIND_OF.items()}
TRANSFORM_KINDS = ("linear", "log", "logicle", "arcsinh", "biex")

_DEFAULTS: dict[str, dict] = {
    "linear": {"t": 262144.0, "a": 0.0},
    "log": {"t": 262144.0, "m": 4.5},
    "logicle": {"t": 262144.0, "w": 0.5, "m": 4.5, "a": 0.0},
    "arcsinh": {"t": 262144.0, "m": 4.5, "a": 0.0},
    "hyperlog": {"t": 262144.0, "w": 0.5, "m": 4.5, "a": 0.0},
    "biex": {"width": -10.0, "negative": 0.0, "positive": 4.41854, "max_value": 262144.000029},
}


def make_transform(kind: str, id: str | None = None, **params: Any) -> Transform:
    """GUI factory: ``make_transform('logicle', t=262144, w=0.5)``; missing params get defaults."""
    kind = {"asinh": "arcsinh", "fasinh": "arcsinh", "flin": "linear", "flog": "log",
            "biexponential": "biex"}.get(kind, kind)
    if kind not in _CLASS_OF:
        raise ValueError(f"unknown transform kind {kind!r}; choose one of {', '.join(TRANSFORM_KINDS)}")
    merged = {**_DEFAULTS.get(kind, {}), **params}
    return _CLASS_OF[kind](id=id or kind, **merged)


def transform_from_dict(d: dict) -> Transform:
    """Inverse of ``Transform.to_dict``."""
    d = dict(d)
    cls = _CLASS_OF[d.pop("kind")]
    if "channels" in d:
        d["channels"] = tuple(d["channels"])
    if "table" in d:
        d["table"] = tuple(d["table"])
    return cls(**d)
