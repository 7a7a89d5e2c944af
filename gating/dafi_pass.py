"""One DAFi pass over one sample: cluster, then gate cluster centroids gate by gate.

Holds the state that :meth:`gating.dafi.DafiRefiner.fit` builds while it walks the gate tree
(clusterings per scope, their centres, kept clusters, memberships), so that each step is a
short method. The refiner keeps the configuration and the fitted results.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .gates import BooleanGate, Gate, PolygonGate, RectangleGate
from .progress import report
from .strategy import GatingStrategy, StrategyError


class DafiPass:
    """State of one ``DafiRefiner.fit``: ``membership`` per population after :meth:`run`."""

    def __init__(self, refiner: Any, sample: Any, strategy: GatingStrategy, cc: Any, X: np.ndarray, *,
                 modes: dict, recluster: set, exclusions: dict) -> None:
        self.refiner, self.strategy, self.cc, self.X = refiner, strategy, cc, X
        self.modes, self.recluster, self.exclusions = modes, recluster, exclusions
        self.n = X.shape[0]
        self.clusterings: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}  # scope -> (labels, rows)
        self.centers: dict[str, np.ndarray] = {}
        self.iterations: dict[str, int] = {}
        self.methods: set[str] = set()
        self.kept: dict[str, np.ndarray] = {}
        self.membership: dict[str, np.ndarray] = {}
        self.plain = strategy.evaluate(sample).membership if refiner.per_parent else {}
        self.ks: dict[str, int] = {}

    # ------------------------------------------------------------------ clustering scopes
    def features(self, parent: str | None, rows: np.ndarray) -> np.ndarray:
        """Events of a parent on the dimensions its children are gated on (ezDAFi: gate channels),
        each scaled to unit spread so that no axis dominates; all channels when no child has any."""
        gdims = {}
        for c in self.strategy.children(parent):
            for d in self.strategy.gate_of(c).dimensions:
                gdims.setdefault((d.channel, d.compensation_ref, d.transform_ref, d.ratio), d)
        A = self.X[rows]
        sa = A.std(axis=0)
        A = A / np.where(sa > 0, sa, 1.0)
        if not gdims:
            return A
        F = np.column_stack([self.cc.column(d)[rows] for d in gdims.values()])
        F = np.nan_to_num(F, nan=0.0, posinf=0.0, neginf=0.0)
        sd = F.std(axis=0)
        w = self.refiner.gate_weight * np.sqrt(A.shape[1] / F.shape[1])
        return np.column_stack([A, w * F / np.where(sd > 0, sd, 1.0)])

    def resolution(self, parent: str | None, size: int) -> int:
        """Clusters for a parent: fine enough that its smallest child spans several clusters."""
        r = self.refiner
        kids = [c for c in self.strategy.children(parent)
                if c in self.plain and self.modes.get(c, "cluster") == "cluster"]
        smallest = min((int(np.count_nonzero(self.plain[c])) for c in kids), default=size)
        per = max(smallest / r.events_per_cluster, 3.0)
        k = int(np.ceil(size / per))
        return int(min(size, max(min(r.n_clusters, size), min(k, r.max_clusters))))

    def _cluster_rows(self, key: str, rows: np.ndarray, data: np.ndarray, k: int | None = None) -> None:
        lab, cen, it, meth = self.refiner._cluster(data, key, k)
        full = np.full(self.n, -1, dtype=np.int64)
        full[rows] = lab
        self.clusterings[key], self.centers[key], self.iterations[key] = (full, rows), cen, it
        self.methods.add(meth)

    def scope_for(self, parent: str | None) -> str:
        """Scope whose clustering applies to children of ``parent``: nearest flagged ancestor,
        or (``per_parent``) the parent itself, clustered at a resolution fitting its children."""
        if self.refiner.per_parent:
            key = "" if parent is None else parent
            if key not in self.clusterings:
                rows = np.arange(self.n) if parent is None else np.flatnonzero(self.membership[parent])
                if rows.size == 0:
                    self.clusterings[key], self.centers[key] = (np.full(self.n, 0), rows), np.zeros((1, self.X.shape[1]))
                    self.iterations[key] = 0
                    return key
                self.ks[key] = self.resolution(parent, rows.size)
                self._cluster_rows(key, rows, self.features(parent, rows), self.ks[key])
            return key
        p = parent
        while p is not None:
            if p in self.recluster and np.count_nonzero(self.membership[p]) > self.refiner.recluster_min_events:
                if p not in self.clusterings:
                    rows = np.flatnonzero(self.membership[p])
                    self._cluster_rows(p, rows, self.X[rows])
                return p
            p = self.strategy.parent_of(p)
        if "" not in self.clusterings:
            lab, cen, it, meth = self.refiner._cluster(self.X, "")
            self.clusterings[""], self.centers[""], self.iterations[""] = (lab, None), cen, it
            self.methods.add(meth)
        return ""

    # ------------------------------------------------------------------ gating
    def gate_clusters(self, gid: str, gate: Gate, rows: np.ndarray, excl: Gate | None) -> None:
        """Keep the whole clusters whose centroid (over the parent's events) lies in the gate."""
        cc, n = self.cc, self.n
        scope = self.scope_for(gate.parent_id)
        labels = self.clusterings[scope][0][rows]
        k = int(self.centers[scope].shape[0])
        cnt = np.bincount(labels, minlength=k).astype(np.float64)
        present = cnt > 0
        cent = _means(labels, cc.coords(gate, rows), cnt, k)
        inside = gate.contains(cent[present]) if cent.shape[1] else np.ones(int(present.sum()), bool)
        parts = inside if isinstance(inside, dict) else {gid: inside}
        if excl is not None:
            ecent = _means(labels, cc.coords(excl, rows), cnt, k)[present]
            drop = np.asarray(excl.contains(ecent), dtype=bool)
            parts = {q: np.asarray(v, bool) & ~drop for q, v in parts.items()}
        ids = np.flatnonzero(present)
        for pid, ins in parts.items():
            keep_ids = ids[np.asarray(ins, dtype=bool)]
            self.kept[pid] = keep_ids
            lut = np.zeros(k, dtype=bool)
            lut[keep_ids] = True
            m = np.zeros(n, dtype=bool)
            m[rows] = lut[labels]
            self.membership[pid] = m

    def gate_events(self, gid: str, gate: Gate, rows: np.ndarray, excl: Gate | None, mode: str) -> None:
        """Plain event gating (``"event"``) or the singlet ratio wedge (``"slope"``)."""
        coords = self.cc.coords(gate, rows)
        if mode == "slope":
            lo, hi = _slope_bounds(gate)
            x, y = coords[:, 0], coords[:, 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                r = y / x
            parts = {gid: (x > 0) & (r >= lo) & (r <= hi)}
        else:
            res = gate.contains(coords)
            parts = res if isinstance(res, dict) else {gid: res}
        if excl is not None:
            drop = np.asarray(excl.contains(self.cc.coords(excl, rows)), dtype=bool)
            parts = {q: np.asarray(v, bool) & ~drop for q, v in parts.items()}
        for pid, ins in parts.items():
            m = np.zeros(self.n, dtype=bool)
            m[rows] = np.asarray(ins, dtype=bool)
            self.membership[pid] = m

    def run(self, order: list[str], progress=None) -> None:
        """Gate every gate in ``order`` (parents first); memberships stay inside the parent."""
        total = len(order) + 1
        report(progress, 0, total, "DAFi: clustering")
        for step, gid in enumerate(order, start=1):
            gate = self.strategy.gates[gid]
            parent = gate.parent_id
            pmask = np.ones(self.n, dtype=bool) if parent is None else self.membership[parent]
            if isinstance(gate, BooleanGate):
                self.membership[gid] = gate.combine({r: self.membership[r] for r, _ in gate.refs}) & pmask
            else:
                mode = self.modes.get(gid, "cluster")
                rows = np.flatnonzero(pmask)
                if mode == "cluster":
                    self.gate_clusters(gid, gate, rows, self.exclusions.get(gid))
                else:
                    self.gate_events(gid, gate, rows, self.exclusions.get(gid), mode)
            report(progress, step, total, f"DAFi: {gid}")


def _slope_bounds(gate: Gate) -> tuple[float, float]:
    """Ratio (y/x) bounds of a 2-D gate read as a slope wedge (C DAFi semantics for rectangles)."""
    if isinstance(gate, RectangleGate) and len(gate.dimensions) == 2:
        (x0, y0), (x1, y1) = gate.mins, gate.maxs
        if None in (x0, y0, x1, y1) or x0 == 0 or x1 == 0:
            raise StrategyError(f"slope gate '{gate.id}' needs finite, non-zero corners")
        return y0 / x0, y1 / x1
    if isinstance(gate, PolygonGate):
        v = np.asarray(gate.vertices)
        v = v[v[:, 0] > 0]
        r = v[:, 1] / v[:, 0]
        return float(r.min()), float(r.max())
    raise StrategyError(f"gate '{gate.id}' cannot be used in slope mode (needs a 2-D rectangle or polygon)")



def _means(labels: np.ndarray, coords: np.ndarray, cnt: np.ndarray, k: int) -> np.ndarray:
    """Per-cluster mean of ``coords`` (k x d); empty clusters get NaN."""
    out = np.full((k, coords.shape[1]), np.nan)
    nz = cnt > 0
    for j in range(coords.shape[1]):
        s = np.bincount(labels, weights=coords[:, j], minlength=k)
        out[nz, j] = s[nz] / cnt[nz]
    return out
