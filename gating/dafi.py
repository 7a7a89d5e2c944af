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
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from .dafi_pass import DafiPass
from .gates import BooleanGate, Dimension, Gate
from .progress import ProgressCallback, report
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


@dataclass(kw_only=True, eq=False)
class DafiRefiner:
    """DAFi refinement of a gating strategy on one sample (scikit-learn style: settings are the
    keyword arguments, :meth:`fit` fills the ``*_`` attributes)."""

    n_clusters: int = 100
    channels: Iterable[str] | None = None
    random_state: int = 0
    recluster_min_events: int = 100
    max_iter: int = 100
    fit_events: int | None = 30_000
    per_parent: bool = True
    events_per_cluster: float = 8.0
    max_clusters: int = 400
    gate_weight: float = 1.0
    warn_min_events: int = 10

    def __post_init__(self) -> None:
        self.channels = None if self.channels is None else list(self.channels)

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
        run = DafiPass(self, sample, strategy, cc, X, modes=modes, recluster=recluster, exclusions=exclusions)
        run.run(order, progress)
        self._store(run, sample, strategy, dims, order, time.perf_counter() - t0)
        report(progress, len(order) + 1, len(order) + 1, "DAFi: done")
        return self

    def _store(self, run: "DafiPass", sample: Any, strategy: GatingStrategy, dims: list, order: list,
               seconds: float) -> None:
        membership, n = run.membership, run.n
        ordered = [p for p in strategy.population_ids() if p in membership]
        plain = run.plain or strategy.evaluate(sample).membership
        self.plain_counts_ = {p: int(np.count_nonzero(plain[p])) for p in ordered if p in plain}
        self.shrunk_ = [p for p in ordered if self.plain_counts_.get(p, 0) >= self.warn_min_events
                        and np.count_nonzero(membership[p]) < 0.5 * self.plain_counts_[p]]
        self.warnings_ = [f"DAFi shrank {strategy.path(p)} below half of its plain count "
                          f"({int(np.count_nonzero(membership[p]))} of {self.plain_counts_[p]} events)"
                          for p in self.shrunk_]
        self.membership_ = {p: membership[p] for p in ordered}
        self.centers_ = {("sample" if s == "" else s): c for s, c in run.centers.items()}
        self.kept_clusters_ = run.kept
        self.dimensions_ = tuple(dims)
        self.result_ = GatingResult(sample_name=str(getattr(sample, "name", "sample")), membership=self.membership_,
                                    paths={p: strategy.path(p) for p in ordered},
                                    parents={p: strategy.parent_of(p) for p in ordered}, event_count=n,
                                    engine="dafi")
        self.audit_ = {
            "seed": self.random_state, "k": self.n_clusters,
            "channels": [sample.channels[strategy_channel_index(sample, d.channel)] for d in dims],
            "transforms": [d.transform_ref for d in dims],
            "iterations": {("sample" if s == "" else s): it for s, it in run.iterations.items()},
            "method": sorted(run.methods), "max_iter": self.max_iter, "fit_events": self.fit_events,
            "modes": {g: run.modes.get(g, "cluster") for g in order
                      if not isinstance(strategy.gates[g], BooleanGate)},
            "reclustered": sorted(s for s in run.clusterings if s),
            "per_parent": self.per_parent,
            "clusters": {("sample" if s == "" else s): int(c.shape[0]) for s, c in run.centers.items()},
            "recluster_min_events": self.recluster_min_events,
            "exclusions": sorted(run.exclusions), "n_events": n,
            "shrunk_below_half": [strategy.path(p) for p in self.shrunk_],
            "seconds": round(seconds, 4),
        }

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
