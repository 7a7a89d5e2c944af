"""Decade ticks for transformed axes: a logicle, biex, arcsinh or log axis is labelled in data units
(0, 10², 10³, 10⁴ …, and negative decades where the scale shows them), as cytometrists read it,
instead of the transform's 0-1 display units. Plain functions, no Qt."""
from __future__ import annotations

import numpy as np

__all__ = ["decade_ticks"]

_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _label(value: float) -> str:
    if value == 0:
        return "0"
    k = int(round(np.log10(abs(value))))
    return ("-" if value < 0 else "") + "10" + str(k).translate(_SUPERSCRIPT)


def decade_ticks(transform, view_range: tuple[float, float], *, max_decade: int = 7, min_gap: float = 0.03):
    """``[[(position, label), ...], [(position, ""), ...]]`` (major, minor) for pyqtgraph's
    ``AxisItem.setTicks``, or ``None`` for a linear axis (automatic ticks). Labels closer than
    ``min_gap`` (a fraction of the axis) to a kept one are left out (small plots: more)."""
    kind = getattr(transform, "kind", "linear") if transform is not None else "linear"
    if kind in ("linear", "ratio"):
        return None
    lo, hi = view_range
    decades = [10.0 ** k for k in range(0, max_decade + 1)]
    values = [0.0] + decades + [-d for d in decades]
    minor_values = [m * d for d in decades[:-1] for m in range(2, 10)]
    minor_values += [-v for v in minor_values]
    with np.errstate(all="ignore"):
        pos = np.asarray(transform.apply(np.asarray(values)), dtype=float)
        minor_pos = np.asarray(transform.apply(np.asarray(minor_values)), dtype=float)
    # zero first, then the largest decades: where labels would crowd, the smaller decade gives way
    order = sorted(range(len(values)), key=lambda i: (values[i] != 0, -abs(values[i])))
    major: list[tuple[float, str]] = []
    for i in order:
        p = pos[i]
        if np.isfinite(p) and lo <= p <= hi and all(abs(p - q) > (hi - lo) * min_gap for q, _ in major):
            major.append((float(p), _label(values[i])))
    major.sort()
    minor: list[tuple[float, str]] = []  # none where they would pile up (the linear part near 0)
    for p in sorted(float(q) for q in minor_pos if np.isfinite(q) and lo <= q <= hi):
        if not minor or p - minor[-1][0] > (hi - lo) * 0.006:
            minor.append((p, ""))
    return [major, minor] if len(major) >= 2 else None
