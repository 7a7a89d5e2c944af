"""Simulated whole-blood FCS data with per-event truth, and the matching gating template.

Mimics a lysed whole-blood leukocyte panel (FSC-A, FSC-H, SSC-A, CD45, CD66b, CD14, CD3, CD19,
CD56, Viability): debris, doublets, dead cells, neutrophils, monocytes and T/B/NK lymphocytes
drawn as tilted Gaussian clouds that overlap a little.  Populations are generated in display
units (scatter: linear /262144; fluorescence: Gating-ML arcsinh T=262144, M=4.5, A=0, so that
0..1 spans the axis) and written back to raw instrument-like values, so that the template's
transforms recover the designed shapes.  Used by tests, benchmarks and the demo study.
"""
from __future__ import annotations

import io
import os
from array import array
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from gating.sample import Sample

if TYPE_CHECKING:  # pragma: no cover
    from gating.strategy import GatingStrategy

__all__ = ["CHANNELS", "MARKERS", "POPULATIONS", "DEFAULT_PROPORTIONS", "simulate_whole_blood",
           "write_fcs", "whole_blood_template", "to_display", "from_display"]

CHANNELS = ["FSC-A", "FSC-H", "SSC-A", "CD45", "CD66b", "CD14", "CD3", "CD19", "CD56", "Viability"]
# $PnN are detector-like names for fluorescence; markers go to $PnS
DETECTORS = ["FSC-A", "FSC-H", "SSC-A", "V500-A", "FITC-A", "PE-Cy7-A", "APC-A", "PE-A", "BV421-A", "APC-Cy7-A"]
MARKERS = ["", "", "", "CD45", "CD66b", "CD14", "CD3", "CD19", "CD56", "Viability"]
SCATTER = (0, 1, 2)
T_RANGE = 262144.0
ASINH_M = 4.5
_K = np.sinh(ASINH_M * np.log(10.0))

# leaf cell types (fractions of live single leukocytes) and contaminants (fractions of all events)
POPULATIONS = ("Neutrophils", "Monocytes", "T_cells", "B_cells", "NK_cells")
DEFAULT_PROPORTIONS = {"Neutrophils": 0.60, "Monocytes": 0.08, "T_cells": 0.22, "B_cells": 0.05,
                       "NK_cells": 0.05, "debris": 0.06, "doublets": 0.04, "dead": 0.05}

# per population: (mean, SD) on the display scale of the 9 dimensions
#                FSC-A  SSC-A  CD45  CD66b  CD14   CD3  CD19  CD56  Viab
_SHAPES = {
    "Neutrophils": ((0.46, 0.36, 0.55, 0.70, 0.30, 0.14, 0.14, 0.15, 0.12),
                    (0.045, 0.050, 0.035, 0.045, 0.045, 0.035, 0.035, 0.035, 0.035)),
    "Monocytes": ((0.42, 0.17, 0.66, 0.22, 0.70, 0.15, 0.15, 0.16, 0.12),
                  (0.045, 0.030, 0.035, 0.045, 0.050, 0.035, 0.035, 0.035, 0.035)),
    "T_cells": ((0.26, 0.065, 0.74, 0.14, 0.15, 0.68, 0.14, 0.17, 0.12),
                (0.030, 0.015, 0.030, 0.035, 0.035, 0.050, 0.035, 0.045, 0.035)),
    "B_cells": ((0.25, 0.06, 0.72, 0.14, 0.16, 0.14, 0.64, 0.15, 0.12),
                (0.030, 0.015, 0.030, 0.035, 0.035, 0.035, 0.050, 0.035, 0.035)),
    "NK_cells": ((0.28, 0.08, 0.70, 0.14, 0.16, 0.15, 0.14, 0.60, 0.12),
                 (0.030, 0.018, 0.030, 0.035, 0.035, 0.035, 0.035, 0.055, 0.035)),
    "debris": ((0.06, 0.035, 0.22, 0.15, 0.15, 0.14, 0.14, 0.14, 0.35),
               (0.030, 0.020, 0.080, 0.050, 0.050, 0.050, 0.050, 0.050, 0.120)),
}
# tilt: (dim a, dim b, correlation) per population, dims index the 9-vector above
_TILTS = {
    "Neutrophils": [(0, 1, 0.55), (2, 3, 0.55)],
    "Monocytes": [(0, 1, 0.5), (2, 4, 0.45)],
    "T_cells": [(0, 1, 0.45), (5, 2, 0.35)],
    "B_cells": [(0, 1, 0.45), (6, 2, 0.3)],
    "NK_cells": [(0, 1, 0.45), (7, 1, 0.3)],
    "debris": [(0, 1, 0.6)],
}
_COLS9 = [0, 2, 3, 4, 5, 6, 7, 8, 9]  # where the 9-vector lands among the 10 channels (no FSC-H)


def from_display(u: np.ndarray, channel: int) -> np.ndarray:
    """Display units (0..1) -> raw values for channel index ``channel``."""
    u = np.asarray(u, dtype=np.float64)
    if channel in SCATTER:
        return u * T_RANGE
    return T_RANGE * np.sinh(u * ASINH_M * np.log(10.0)) / _K


def to_display(x: np.ndarray, channel: int) -> np.ndarray:
    """Raw values -> display units (inverse of :func:`from_display`)."""
    x = np.asarray(x, dtype=np.float64)
    if channel in SCATTER:
        return x / T_RANGE
    return np.arcsinh(x * _K / T_RANGE) / (ASINH_M * np.log(10.0))


def _cov(pop: str) -> np.ndarray:
    sd = np.asarray(_SHAPES[pop][1])
    r = np.eye(len(sd))
    for a, b, c in _TILTS.get(pop, []):
        r[a, b] = r[b, a] = c
    return r * np.outer(sd, sd)


def simulate_whole_blood(n_events: int = 50_000, *, seed: int = 0, proportions: Mapping[str, float] | None = None,
                         shifts: Mapping[str, Mapping[str, float]] | None = None,
                         name: str = "whole_blood") -> tuple[Sample, dict[str, np.ndarray]]:
    """Simulate one whole-blood tube; returns ``(sample, truth)``.

    ``proportions`` overrides :data:`DEFAULT_PROPORTIONS` (cell types as fractions of live single
    leukocytes, renormalised; ``debris``/``doublets``/``dead`` as fractions of all events).
    ``shifts`` moves populations in display units, e.g. ``{"Neutrophils": {"CD66b": -0.05}}``
    (channel names or markers; ``"*"`` shifts every population).  ``truth`` maps each template
    population id (and ``debris``, ``doublets``, ``dead``) to a bool array over events; the
    template ids are hierarchical (``Live`` = single, non-debris, live), as a gate tree sees them.
    """
    rng = np.random.default_rng(seed)
    p = dict(DEFAULT_PROPORTIONS)
    if proportions:
        unknown = set(proportions) - set(p)
        if unknown:
            raise ValueError(f"unknown populations {sorted(unknown)}; use {sorted(p)}")
        p.update({k: float(v) for k, v in proportions.items()})
    cells = np.array([max(p[k], 0.0) for k in POPULATIONS])
    if cells.sum() <= 0:
        raise ValueError("cell-type proportions must not all be zero")
    cells = cells / cells.sum()
    contam = np.array([p["debris"], p["doublets"], p["dead"]])
    if contam.sum() >= 1:
        raise ValueError("debris + doublets + dead must be below 1")
    probs = np.concatenate([cells * (1 - contam.sum()), contam])
    counts = rng.multinomial(n_events, probs)
    # per-event kind: 0..4 cell types, 5 debris, 6 doublet, 7 dead
    kind = np.repeat(np.arange(8), counts)
    rng.shuffle(kind)
    celltype = kind.copy()
    contaminant = kind >= 6
    # doublets and dead cells are made of ordinary cell types
    celltype[contaminant] = rng.choice(5, size=int(contaminant.sum()), p=cells)

    shift_vec = _shift_vectors(shifts)
    u9 = np.empty((n_events, 9))
    for t, pop in enumerate(list(POPULATIONS) + ["debris"]):
        idx = np.flatnonzero(celltype == t)
        if idx.size:
            mean = np.asarray(_SHAPES[pop][0]) + shift_vec.get(pop, 0.0) + shift_vec.get("*", 0.0)
            u9[idx] = rng.multivariate_normal(mean, _cov(pop), size=idx.size, method="cholesky")
    u = np.empty((n_events, 10))
    u[:, _COLS9] = u9
    ratio = rng.normal(0.86, 0.035, n_events)  # FSC-H / FSC-A on the singlet diagonal
    dbl = kind == 6
    u[dbl, 0] *= rng.normal(1.75, 0.12, int(dbl.sum()))
    ratio[dbl] = rng.normal(0.56, 0.05, int(dbl.sum()))
    dead = kind == 7
    nd = int(dead.sum())
    u[dead, 0] *= 0.8
    u[dead, 2] *= 1.15
    u[dead, 9] = rng.normal(0.62, 0.05, nd)
    u[:, 0] = np.abs(u[:, 0])
    u[:, 2] = np.abs(u[:, 2])
    u[:, 1] = u[:, 0] * ratio
    events = np.empty_like(u)
    for j in range(10):
        events[:, j] = from_display(u[:, j], j)
    events[:, :3] = np.clip(events[:, :3], 0.0, T_RANGE - 1)
    sample = Sample.from_array(events, list(DETECTORS), list(MARKERS), name=name)
    truth = _truth(kind, celltype)
    return sample, truth


def _shift_vectors(shifts) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if not shifts:
        return out
    names9 = [CHANNELS[c] for c in _COLS9]
    det9 = [DETECTORS[c] for c in _COLS9]
    for pop, d in shifts.items():
        v = np.zeros(9)
        for ch, delta in d.items():
            if ch in names9:
                v[names9.index(ch)] += delta
            elif ch in det9:
                v[det9.index(ch)] += delta
            else:
                raise ValueError(f"cannot shift channel '{ch}' (FSC-H follows FSC-A)")
        out[pop] = v
    return out


def _truth(kind: np.ndarray, celltype: np.ndarray) -> dict[str, np.ndarray]:
    singlets = kind != 6
    leuk = singlets & (kind != 5)
    live = leuk & (kind != 7)
    t = {"Singlets": singlets, "Leukocytes": leuk, "Live": live,
         "debris": kind == 5, "doublets": kind == 6, "dead": kind == 7}
    for i, pop in enumerate(POPULATIONS):
        t[pop] = live & (celltype == i)
    t["Lymphocytes"] = t["T_cells"] | t["B_cells"] | t["NK_cells"]
    return t


def write_fcs(sample: Sample, path: str | os.PathLike, *, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``sample`` as an FCS 3.1 float file (flowio); returns the path."""
    import flowio

    path = Path(path)
    meta = {"$CYT": "FastMix Studio simulator", "$FIL": path.name}
    if sample.spillover is not None:
        det, mat = sample.spillover
        meta["$SPILLOVER"] = ",".join([str(len(det)), *det, *(repr(float(v)) for v in mat.ravel())])
    if metadata:
        meta.update({str(k): str(v) for k, v in metadata.items()})
    buf = io.BytesIO()
    data = array("f")
    data.frombytes(np.ascontiguousarray(sample.events, dtype="<f4").tobytes())
    flowio.create_fcs(buf, data, list(sample.channels),
                      opt_channel_names=[m or None for m in sample.markers] if any(sample.markers) else None,
                      metadata_dict=meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path


def whole_blood_template() -> "GatingStrategy":
    """Gating template for the simulated panel (display units: scatter ``lin``, markers ``asinh``).

    Singlets (FSC-A/FSC-H polygon) / Leukocytes (FSC-A/SSC-A polygon, debris out) / Live
    (CD45+ Viability-) / Neutrophils (CD66b+), Monocytes (CD14+ CD66b-), Lymphocytes
    (CD14- CD66b-) / T_cells (CD3+ CD19-), B_cells (CD19+ CD3-), NK_cells (CD56+ CD3-).
    """
    from gating.gates import Dimension, PolygonGate, RectangleGate
    from gating.strategy import GatingStrategy
    from gating.transforms import AsinhTransform, LinearTransform

    lin, asinh = "lin", "asinh"

    def sc(ch: str) -> Dimension:
        return Dimension(ch, None, lin)

    def fl(marker: str) -> Dimension:
        return Dimension(marker, None, asinh)

    gates = [
        PolygonGate("Singlets", None, (sc("FSC-A"), sc("FSC-H")),
                    vertices=((0.02, 0.0), (1.0, 0.70), (1.0, 1.0), (0.0, 0.03))),
        PolygonGate("Leukocytes", "Singlets", (sc("FSC-A"), sc("SSC-A")),
                    vertices=((0.14, 0.0), (1.0, 0.0), (1.0, 0.8), (0.25, 0.8), (0.14, 0.12))),
        RectangleGate("Live", "Leukocytes", (fl("CD45"), fl("Viability")), mins=(0.35, None), maxs=(None, 0.38)),
        RectangleGate("Neutrophils", "Live", (fl("CD45"), fl("CD66b")), mins=(0.35, 0.45), maxs=(None, None)),
        RectangleGate("Monocytes", "Live", (fl("CD14"), fl("CD66b")), mins=(0.5, None), maxs=(None, 0.45)),
        RectangleGate("Lymphocytes", "Live", (fl("CD14"), fl("CD66b")), mins=(None, None), maxs=(0.5, 0.45)),
        RectangleGate("T_cells", "Lymphocytes", (fl("CD3"), fl("CD19")), mins=(0.42, None), maxs=(None, 0.4)),
        RectangleGate("B_cells", "Lymphocytes", (fl("CD3"), fl("CD19")), mins=(None, 0.4), maxs=(0.42, None)),
        RectangleGate("NK_cells", "Lymphocytes", (fl("CD3"), fl("CD56")), mins=(None, 0.38), maxs=(0.42, None)),
    ]
    transforms = [LinearTransform(lin, t=T_RANGE, a=0.0), AsinhTransform(asinh, t=T_RANGE, m=ASINH_M, a=0.0)]
    return GatingStrategy(gates=gates, transforms=transforms)
