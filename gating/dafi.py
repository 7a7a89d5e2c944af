"""DAFi: a manual gate tree applied to k-means cluster centroids instead of events.

Follows ``specs/dafi.md``: events are over-clustered (seeded k-means++, k=100) on the
transformed channels; for each gate, whole clusters whose centroid (mean of the cluster's events
of the parent population, in the gate's own coordinates) lies inside the gate are kept, so the
population boundary follows the data rather than the drawn line.  Per gate the mode can instead
be ``"event"`` (plain gating) or ``"slope"`` (singlet ratio wedge, C semantics).  A parent listed
in ``recluster`` is re-clustered (if it holds more than ``recluster_min_events`` events) before
its children are gated; the nearest re-clustered ancestor's clustering is inherited downwards.
Memberships are always intersected with the ancestors.
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from engine.progress import ProgressCallback, report

from .gates import BooleanGate, Dimension, Gate, PolygonGate, RectangleGate
from .strategy import GatingResult, GatingStrategy, StrategyError

__all__ = ["DafiRefiner", "MODES", "clustering_dimensions"]

MODES = ("cluster", "event", "slope")
_SCATTER_PREFIX = ("FSC", "SSC", "FS ", "SS ")


def _is_time(name: str) -> bool:
    return name.strip().lower().startswith("time")


def clustering_dimensions(sample: Any, strategy: GatingStrategy, channels: Iterable[str] | None = None) -> list[Dimension]:
    """Dimensions to cluster on: each channel as the strategy's gates see it (same compensation
    and transform); channels no gate uses get a Gating-ML arcsinh (fluorescence) or a linear
    /262144 (scatter) scale.  Default channels: every channel except Time."""
    used: dict[str, Dimension] = {}
    for g in strategy.gates.values():
        for d in g.dimensions:
            if d.ratio:
                continue
            try:
                idx = strategy_channel_index(sample, d.channel)
            except Exception:
                continue
            used.setdefault(sample.channels[idx], d)
    if channels is None:
        chosen = [c for c in sample.channels if not _is_time(c)]
    else:
        chosen = [sample.channels[strategy_channel_index(sample, c)] for c in channels]
    dims = []
    for c in chosen:
        if c in used:
            dims.append(used[c])
        elif c.upper().startswith(_SCATTER_PREFIX):
            dims.append(Dimension(c, None, "__dafi_lin"))
        else:
            dims.append(Dimension(c, None, "__dafi_asinh"))
    return dims


def strategy_channel_index(sample: Any, name: str) -> int:
    from .strategy import resolve_channel

    return resolve_channel(sample, name)


class _Coords:
    """Column cache over one sample (compensation/transform computed once per dimension)."""

    def __init__(self, strategy: GatingStrategy, sample: Any):
        from . import strategy as strategy_mod
        from .transforms import AsinhTransform, LinearTransform

        s = strategy.copy()
        s.add_transform(LinearTransform("__dafi_lin", t=262144.0, a=0.0))
        s.add_transform(AsinhTransform("__dafi_asinh", t=262144.0, m=4.5, a=0.0))
        self.strategy = s
        self._ev = strategy_mod._Evaluator(s, sample) if hasattr(strategy_mod, "_Evaluator") else None
        self.sample = sample

    def column(self, dim: Dimension) -> np.ndarray:
        if self._ev is not None:
            return self._ev.column(dim)
        return self.strategy.dimension_values(self.sample, dim)

    def coords(self, gate: Gate, rows: np.ndarray | None = None) -> np.ndarray:
        cols = [self.column(d) for d in gate.dimensions]
        if rows is not None:
            cols = [c[rows] for c in cols]
        n = self.sample.events.shape[0] if rows is None else len(rows)
        return np.column_stack(cols) if cols else np.empty((n, 0))


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


def _tree_order(strategy: GatingStrategy) -> list[str]:
    """Gate ids with parents (and Boolean operands) before the gates that need them."""
    order: list[str] = []
    done: set[str] = set()
    busy: set[str] = set()

    def visit(gid: str) -> None:
        if gid in done:
            return
        if gid in busy:
            raise StrategyError(f"gate '{gid}' depends on itself")
        busy.add(gid)
        g = strategy.gates[gid]
        deps = [] if g.parent_id is None else [strategy.gate_of(g.parent_id).id]
        if isinstance(g, BooleanGate):
            deps += [strategy.gate_of(r).id for r, _ in g.refs]
        for d in deps:
            visit(d)
        busy.discard(gid)
        done.add(gid)
        order.append(gid)

    for gid in strategy.gates:
        visit(gid)
    return order


class DafiRefiner:
    """DAFi refinement of a gating strategy on one sample (scikit-learn style)."""

    def __init__(self, *, n_clusters: int = 100, channels: Iterable[str] | None = None, random_state: int = 0,
                 recluster_min_events: int = 100, max_iter: int = 100, fit_events: int | None = 30_000,
                 per_parent: bool = True, events_per_cluster: float = 8.0, max_clusters: int = 400,
                 gate_weight: float = 1.0, warn_min_events: int = 10) -> None:
        self.gate_weight = gate_weight
        self.warn_min_events = warn_min_events
        self.n_clusters = n_clusters
        self.per_parent = per_parent
        self.events_per_cluster = events_per_cluster
        self.max_clusters = max_clusters
        self.channels = None if channels is None else list(channels)
        self.random_state = random_state
        self.recluster_min_events = recluster_min_events
        self.max_iter = max_iter
        self.fit_events = fit_events

    # ---------------------------------------------------------------------------- clustering
    def _cluster(self, X: np.ndarray, scope: str, k: int | None = None) -> tuple[np.ndarray, np.ndarray, int, str]:
        """Seeded k-means++; fitted on at most ``fit_events`` events, then every event assigned."""
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        n = X.shape[0]
        k = int(min(self.n_clusters if k is None else k, n))
        rng = np.random.default_rng(self.random_state)
        if self.fit_events is not None and n > self.fit_events:
            sub = np.sort(rng.choice(n, size=self.fit_events, replace=False))
            method = f"KMeans on a {self.fit_events}-event subsample + nearest-centre assignment"
        else:
            sub = None
            method = "KMeans on all events"
        km = KMeans(n_clusters=k, n_init=1, init="k-means++", max_iter=self.max_iter,
                    random_state=self.random_state)
        # one BLAS/OpenMP thread: on a busy 2-core machine more threads spin and run slower
        with threadpool_limits(limits=1):
            km.fit(X if sub is None else X[sub])
            labels = km.labels_ if sub is None else km.predict(X)
        return labels.astype(np.int64), km.cluster_centers_.astype(np.float64), int(km.n_iter_), method

    # ---------------------------------------------------------------------------- fitting
    def fit(self, sample: Any, strategy: GatingStrategy, modes: Mapping[str, str] | None = None,
            recluster: Iterable[str] | None = None, exclusions: Mapping[str, Gate] | None = None,
            progress: ProgressCallback | None = None) -> "DafiRefiner":
        """Gate ``sample`` with ``strategy`` the DAFi way; fills ``membership_`` and friends.

        ``modes`` maps gate id -> ``"cluster"`` (default) | ``"event"`` | ``"slope"``;
        ``recluster`` lists population ids whose events are re-clustered before their children
        are gated; ``exclusions`` maps gate id -> a gate whose region is removed (whole clusters
        in cluster mode, events otherwise).
        """
        modes = dict(modes or {})
        recluster = set(recluster or ())
        exclusions = dict(exclusions or {})
        for gid, m in modes.items():
            if m not in MODES:
                raise ValueError(f"gate '{gid}': unknown DAFi mode '{m}' (use {', '.join(MODES)})")
            strategy.gate_of(gid)
        for gid in list(recluster) + list(exclusions):
            strategy.gate_of(gid)
        t0 = time.perf_counter()
        cc = _Coords(strategy, sample)
        n = int(np.asarray(sample.events).shape[0])
        dims = clustering_dimensions(sample, strategy, self.channels)
        X = np.column_stack([cc.column(d) for d in dims]) if dims else np.empty((n, 0))
        if not np.isfinite(X).all():
            X = np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)
        order = _tree_order(strategy)
        total = len(order) + 1

        clusterings: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}  # scope -> (labels, rows)
        centers: dict[str, np.ndarray] = {}
        iterations: dict[str, int] = {}
        methods: set[str] = set()
        kept: dict[str, np.ndarray] = {}
        membership: dict[str, np.ndarray] = {}

        plain = strategy.evaluate(sample).membership if self.per_parent else {}
        ks: dict[str, int] = {}

        def parent_features(parent: str | None, rows: np.ndarray) -> np.ndarray:
            """Events of a parent on the dimensions its children are gated on (ezDAFi: gate channels),
            each scaled to unit spread so that no axis dominates; all channels when no child has any."""
            gdims = {}
            for c in strategy.children(parent):
                for d in strategy.gate_of(c).dimensions:
                    gdims.setdefault((d.channel, d.compensation_ref, d.transform_ref, d.ratio), d)
            A = X[rows]
            sa = A.std(axis=0)
            A = A / np.where(sa > 0, sa, 1.0)
            if not gdims:
                return A
            F = np.column_stack([cc.column(d)[rows] for d in gdims.values()])
            F = np.nan_to_num(F, nan=0.0, posinf=0.0, neginf=0.0)
            sd = F.std(axis=0)
            w = self.gate_weight * np.sqrt(A.shape[1] / F.shape[1])
            return np.column_stack([A, w * F / np.where(sd > 0, sd, 1.0)])

        def resolution(parent: str | None, size: int) -> int:
            """Clusters for a parent: fine enough that its smallest child spans several clusters."""
            kids = [c for c in strategy.children(parent) if c in plain and modes.get(c, "cluster") == "cluster"]
            smallest = min((int(np.count_nonzero(plain[c])) for c in kids), default=size)
            per = max(smallest / self.events_per_cluster, 3.0)
            k = int(np.ceil(size / per))
            return int(min(size, max(min(self.n_clusters, size), min(k, self.max_clusters))))

        def clustering_for(parent: str | None) -> str:
            """Scope whose clustering applies to children of ``parent``: nearest flagged ancestor,
            or (``per_parent``) the parent itself, clustered at a resolution fitting its children."""
            if self.per_parent:
                key = "" if parent is None else parent
                if key not in clusterings:
                    rows = np.arange(n) if parent is None else np.flatnonzero(membership[parent])
                    if rows.size == 0:
                        clusterings[key], centers[key] = (np.full(n, 0), rows), np.zeros((1, X.shape[1]))
                        iterations[key] = 0
                        return key
                    ks[key] = resolution(parent, rows.size)
                    lab, cen, it, meth = self._cluster(parent_features(parent, rows), key, ks[key])
                    full = np.full(n, -1, dtype=np.int64)
                    full[rows] = lab
                    clusterings[key], centers[key], iterations[key] = (full, rows), cen, it
                    methods.add(meth)
                return key
            p = parent
            while p is not None:
                if p in recluster and np.count_nonzero(membership[p]) > self.recluster_min_events:
                    if p not in clusterings:
                        rows = np.flatnonzero(membership[p])
                        lab, cen, it, meth = self._cluster(X[rows], p)
                        full = np.full(n, -1, dtype=np.int64)
                        full[rows] = lab
                        clusterings[p], centers[p], iterations[p] = (full, rows), cen, it
                        methods.add(meth)
                    return p
                p = strategy.parent_of(p)
            if "" not in clusterings:
                lab, cen, it, meth = self._cluster(X, "")
                clusterings[""], centers[""], iterations[""] = (lab, None), cen, it
                methods.add(meth)
            return ""

        report(progress, 0, total, "DAFi: clustering")
        for step, gid in enumerate(order, start=1):
            gate = strategy.gates[gid]
            parent = gate.parent_id
            pmask = np.ones(n, dtype=bool) if parent is None else membership[parent]
            if isinstance(gate, BooleanGate):
                m = gate.combine({r: membership[r] for r, _ in gate.refs}) & pmask
                membership[gid] = m
                report(progress, step, total, f"DAFi: {gid}")
                continue
            mode = modes.get(gid, "cluster")
            rows = np.flatnonzero(pmask)
            excl = exclusions.get(gid)
            if mode == "cluster":
                scope = clustering_for(parent)
                labels = clusterings[scope][0][rows]
                k = int(centers[scope].shape[0])
                cnt = np.bincount(labels, minlength=k).astype(np.float64)
                present = cnt > 0
                coords = cc.coords(gate, rows)
                cent = _means(labels, coords, cnt, k)
                inside = gate.contains(cent[present]) if cent.shape[1] else np.ones(int(present.sum()), bool)
                parts = inside if isinstance(inside, dict) else {gid: inside}
                if excl is not None:
                    ecent = _means(labels, cc.coords(excl, rows), cnt, k)[present]
                    drop = np.asarray(excl.contains(ecent), dtype=bool)
                    parts = {q: np.asarray(v, bool) & ~drop for q, v in parts.items()}
                ids = np.flatnonzero(present)
                for pid, ins in parts.items():
                    keep_ids = ids[np.asarray(ins, dtype=bool)]
                    kept[pid] = keep_ids
                    lut = np.zeros(k, dtype=bool)
                    lut[keep_ids] = True
                    m = np.zeros(n, dtype=bool)
                    m[rows] = lut[labels]
                    membership[pid] = m
            else:
                coords = cc.coords(gate, rows)
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
                    drop = np.asarray(excl.contains(cc.coords(excl, rows)), dtype=bool)
                    parts = {q: np.asarray(v, bool) & ~drop for q, v in parts.items()}
                for pid, ins in parts.items():
                    m = np.zeros(n, dtype=bool)
                    m[rows] = np.asarray(ins, dtype=bool)
                    membership[pid] = m
            report(progress, step, total, f"DAFi: {gid}")

        ordered = [p for p in strategy.population_ids() if p in membership]
        if not plain:
            plain = strategy.evaluate(sample).membership
        self.plain_counts_ = {p: int(np.count_nonzero(plain[p])) for p in ordered if p in plain}
        self.shrunk_ = [p for p in ordered if self.plain_counts_.get(p, 0) >= self.warn_min_events
                        and np.count_nonzero(membership[p]) < 0.5 * self.plain_counts_[p]]
        self.warnings_ = [f"DAFi shrank {strategy.path(p)} below half of its plain count "
                          f"({int(np.count_nonzero(membership[p]))} of {self.plain_counts_[p]} events)"
                          for p in self.shrunk_]
        self.membership_ = {p: membership[p] for p in ordered}
        self.centers_ = {("sample" if s == "" else s): c for s, c in centers.items()}
        self.kept_clusters_ = kept
        self.dimensions_ = tuple(dims)
        self.result_ = GatingResult(sample_name=str(getattr(sample, "name", "sample")), membership=self.membership_,
                                    paths={p: strategy.path(p) for p in ordered},
                                    parents={p: strategy.parent_of(p) for p in ordered}, event_count=n,
                                    engine="dafi")
        self.audit_ = {
            "seed": self.random_state, "k": self.n_clusters,
            "channels": [sample.channels[strategy_channel_index(sample, d.channel)] for d in dims],
            "transforms": [d.transform_ref for d in dims],
            "iterations": {("sample" if s == "" else s): it for s, it in iterations.items()},
            "method": sorted(methods), "max_iter": self.max_iter, "fit_events": self.fit_events,
            "modes": {g: modes.get(g, "cluster") for g in order if not isinstance(strategy.gates[g], BooleanGate)},
            "reclustered": sorted(s for s in clusterings if s),
            "per_parent": self.per_parent,
            "clusters": {("sample" if s == "" else s): int(c.shape[0]) for s, c in centers.items()},
            "recluster_min_events": self.recluster_min_events,
            "exclusions": sorted(exclusions), "n_events": n,
            "shrunk_below_half": [strategy.path(p) for p in self.shrunk_],
            "seconds": round(time.perf_counter() - t0, 4),
        }
        report(progress, total, total, "DAFi: done")
        return self

    def counts(self) -> pd.DataFrame:
        """Tidy table ``sample, population, count, parent_count, pct_parent, pct_total``."""
        return self.result_.counts()

    def comparison(self) -> pd.DataFrame:
        """Per population: ``dafi`` (refined) and ``plain`` (event gating) counts and ``dafi_ratio``."""
        df = self.result_.counts()[["sample", "population", "count"]].rename(columns={"count": "dafi"})
        ids = list(self.membership_)
        df["plain"] = [self.plain_counts_.get(p, 0) for p in ids]
        df["dafi_ratio"] = df["dafi"] / df["plain"].where(df["plain"] > 0)
        return df


def _means(labels: np.ndarray, coords: np.ndarray, cnt: np.ndarray, k: int) -> np.ndarray:
    """Per-cluster mean of ``coords`` (k x d); empty clusters get NaN."""
    out = np.full((k, coords.shape[1]), np.nan)
    nz = cnt > 0
    for j in range(coords.shape[1]):
        s = np.bincount(labels, weights=coords[:, j], minlength=k)
        out[nz, j] = s[nz] / cnt[nz]
    return out
