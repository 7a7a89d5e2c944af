"""Apply one gating strategy (optionally refined by DAFi) to many FCS files in worker processes.

Workers receive file paths and the strategy as its JSON-safe dict (never Sample objects), so
nothing large is pickled; each returns its tidy counts table.  A file that cannot be read or
gated is recorded in ``BatchResult.errors`` (message naming the file) and the rest completes.
"""
from __future__ import annotations

import os
import sys
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import InputError
from .progress import ProgressCallback, report
from .strategy import GatingStrategy

__all__ = ["BatchResult", "gate_batch", "gate_file", "COUNT_COLUMNS", "write_events_csv"]

COUNT_COLUMNS = ["sample", "population", "count", "parent_count", "pct_parent", "pct_total", "engine"]


@dataclass
class BatchResult:
    """Counts of every population in every file that could be gated, plus the failures."""

    counts: pd.DataFrame
    errors: dict[str, str] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)  # sample name -> path
    population_paths: dict[str, str] = field(default_factory=dict)  # population id -> full path
    audits: dict[str, dict] = field(default_factory=dict)  # sample name -> DAFi audit
    event_counts: dict[str, int] = field(default_factory=dict)  # sample name -> events in the file

    def _resolve(self, population: str) -> str:
        paths = list(self.population_paths.values()) or list(dict.fromkeys(self.counts["population"]))
        if population in paths:
            return population
        if population in self.population_paths:
            return self.population_paths[population]
        hits = [p for p in paths if p.split("/")[-1] == population or p.endswith("/" + population)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise InputError(f"population '{population}' is not in the gating results "
                             f"(available: {', '.join(p.split('/')[-1] for p in paths)})")
        raise InputError(f"population '{population}' is ambiguous: {', '.join(hits)}")

    def proportions(self, populations: Sequence[str], *, relative_to: str = "chosen") -> pd.DataFrame:
        """Samples x populations fractions, ready as FastMix cell proportions.

        ``relative_to="chosen"`` (default): each count over the sum of the chosen populations, so
        rows sum to 1; ``"total"``: over all events; any population id/path: over that population.
        Columns are named as given in ``populations``; the index holds the sample names.
        """
        if not populations:
            raise InputError("choose at least one population for the proportions table")
        full = [self._resolve(p) for p in populations]
        table = self.counts.pivot_table(index="sample", columns="population", values="count", aggfunc="sum")
        order = [s for s in self.samples if s in table.index]
        table = table.reindex(index=order)
        counts = table.reindex(columns=full).astype(np.float64)
        counts.columns = list(populations)
        if relative_to == "chosen":
            denom = counts.sum(axis=1)
        elif relative_to == "total":
            denom = pd.Series(self.event_counts, dtype=np.float64).reindex(order)
        else:
            denom = table[self._resolve(relative_to)].astype(np.float64)
        out = counts.div(denom.where(denom > 0), axis=0)
        out.index.name = "sample"
        out.columns.name = None
        return out


def write_events_csv(membership: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """One 0/1 column per population id, one row per event in file order, written to ``path``."""
    path = Path(path)
    cols = list(membership)
    mat = np.column_stack([np.asarray(membership[c], dtype=np.uint8) for c in cols]) if cols else np.zeros((0, 0))
    header = ",".join(_csv_field(c) for c in cols)
    body = b""
    if mat.size:
        # each 0/1 cell is one character: build the text with numpy, not per event
        chars = (mat + ord("0")).astype(np.uint8)
        sep = np.full((mat.shape[0], mat.shape[1]), ord(","), dtype=np.uint8)
        sep[:, -1] = ord("\n")
        body = np.stack([chars, sep], axis=2).reshape(-1).tobytes()
    path.write_bytes(header.encode("utf-8") + b"\n" + body)
    return path


def _csv_field(s: str) -> str:
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n') else s


def gate_file(path: str, strategy: GatingStrategy | Mapping[str, Any], *, dafi: Mapping[str, Any] | None = None,
              events_dir: str | None = None, sample_name: str | None = None) -> dict[str, Any]:
    """Gate one file (the worker task); returns ``{"counts": DataFrame, "audit": dict|None}``."""
    from .sample import read_fcs

    st = strategy if isinstance(strategy, GatingStrategy) else GatingStrategy.from_dict(strategy)
    sample = read_fcs(path)
    if sample_name:
        sample.name = sample_name
    audit = None
    if dafi is not None:
        from .dafi import DafiRefiner
        from .gates import gate_from_dict

        params = dict(dafi.get("params", {}))
        excl = {k: gate_from_dict(v) for k, v in (dafi.get("exclusions") or {}).items()}
        ref = DafiRefiner(**params).fit(sample, st, modes=dafi.get("modes"), recluster=dafi.get("recluster"),
                                        exclusions=excl)
        result, audit = ref.result_, ref.audit_
        counts = result.counts()
        cmp = ref.comparison()
        counts["dafi"], counts["plain"], counts["dafi_ratio"] = cmp["dafi"], cmp["plain"], cmp["dafi_ratio"]
        audit = {**audit, "warnings": list(ref.warnings_)}
    else:
        result = st.evaluate(sample)
        counts = result.counts()
    # which engine gave the counts: exact, flowjo (FlowJo-compatible binned counting) or dafi
    counts.insert(6, "engine", result.engine)
    if events_dir is not None:
        write_events_csv(result.membership, Path(events_dir) / f"{Path(path).stem}_events.csv")
    return {"counts": counts, "audit": audit, "events": int(result.event_count)}


def _task(path: str, strategy_dict: dict, dafi: dict | None, events_dir: str | None, name: str):
    try:
        return path, gate_file(path, strategy_dict, dafi=dafi, events_dir=events_dir, sample_name=name), None
    except Exception as exc:  # noqa: BLE001 - every failure is reported per file, the batch goes on
        msg = str(exc) or type(exc).__name__
        fname = Path(path).name
        if fname not in msg:
            msg = f"{fname}: {msg}"
        return path, None, msg


def _dafi_spec(dafi: Any, modes, recluster, exclusions) -> dict | None:
    if dafi is None:
        return None
    params = {k: getattr(dafi, k) for k in ("n_clusters", "channels", "random_state", "recluster_min_events",
                                            "max_iter", "fit_events", "per_parent", "events_per_cluster",
                                            "max_clusters", "gate_weight", "warn_min_events")}
    return {"params": params, "modes": dict(modes or {}), "recluster": sorted(recluster or ()),
            "exclusions": {k: g.to_dict() for k, g in (exclusions or {}).items()}}


def _sample_names(paths: Sequence[str]) -> list[str]:
    stems = [Path(p).stem for p in paths]
    dup = {s for s in stems if stems.count(s) > 1}
    return [f"{Path(p).parent.name}/{Path(p).stem}" if Path(p).stem in dup else Path(p).stem for p in paths]


def gate_batch(paths: Iterable[str | os.PathLike], strategy: GatingStrategy, *, dafi: Any = None,
               processes: int = 2, progress: ProgressCallback | None = None,
               dafi_modes: Mapping[str, str] | None = None, dafi_recluster: Iterable[str] | None = None,
               dafi_exclusions: Mapping[str, Any] | None = None,
               events_dir: str | os.PathLike | None = None, executor: Executor | None = None) -> BatchResult:
    """Gate every file with ``strategy`` (DAFi-refined when ``dafi`` is a ``DafiRefiner``).

    Runs in ``processes`` worker processes (in this process when 1 or a single file).  The
    progress callback gets ``(files done, files, message)`` and may cancel; cancelling stops
    pending files and raises :class:`gating.progress.Cancelled`.  With ``events_dir`` each file
    also gets ``<stem>_events.csv`` (0/1 per population id, one row per event).  ``executor``
    (any ``concurrent.futures.Executor``, e.g. a Dask ``Client.get_executor()``) runs the files
    instead of local processes; it is left running.  Workers read the files by path, so paths
    must be valid where the workers run.
    """
    paths = [str(p) for p in paths]
    names = _sample_names(paths)
    st_dict = strategy.to_dict()
    spec = _dafi_spec(dafi, dafi_modes, dafi_recluster, dafi_exclusions)
    ev_dir = None if events_dir is None else str(events_dir)
    if ev_dir is not None:
        Path(ev_dir).mkdir(parents=True, exist_ok=True)
    total = len(paths)
    tasks = [(p, st_dict, spec, ev_dir, nm) for p, nm in zip(paths, names)]
    report(progress, 0, total, "gating")
    if executor is not None:
        results = _run_on(executor, tasks, progress)
    elif processes <= 1 or total <= 1:
        results = {}
        for i, task in enumerate(tasks):
            _, res, err = _task(*task)
            results[task[0]] = (res, err)
            report(progress, i + 1, total, f"gated {Path(task[0]).name}")
    else:
        with ProcessPoolExecutor(max_workers=min(processes, total), mp_context=_mp_context()) as pool:
            try:
                results = _run_on(pool, tasks, progress)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    frames, errors, audits, samples, event_counts = [], {}, {}, {}, {}
    for p, nm in zip(paths, names):
        res, err = results[p]
        if err is not None:
            errors[p] = err
            continue
        frames.append(res["counts"])
        samples[nm] = p
        event_counts[nm] = res["events"]
        if res.get("audit") is not None:
            audits[nm] = res["audit"]
    counts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {c: pd.Series(dtype="float64" if c.startswith("pct") else ("int64" if c.endswith("count") else "str"))
         for c in COUNT_COLUMNS})
    pops = {pid: strategy.path(pid) for pid in strategy.population_ids()}
    return BatchResult(counts=counts, errors=errors, samples=samples, population_paths=pops, audits=audits,
                       event_counts=event_counts)


def _run_on(executor: Executor, tasks: list[tuple], progress: ProgressCallback | None) -> dict:
    """Run ``_task`` for every task on ``executor``; path -> (result, error), progress per file.

    On cancel or any error the pending futures are cancelled and the exception propagates."""
    futures: set[Future] = {executor.submit(_task, *task) for task in tasks}
    results: dict[str, tuple[dict | None, str | None]] = {}
    try:
        while futures:
            done, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            for f in done:
                p, res, err = f.result()
                results[p] = (res, err)
                report(progress, len(results), len(tasks), f"gated {Path(p).name}")
            if not done:
                report(progress, len(results), len(tasks), "gating")
    except BaseException:
        for f in futures:
            f.cancel()
        raise
    return results


def _mp_context():
    """``spawn`` when Qt is loaded (forking a threaded GUI process is unsafe), else the default."""
    import multiprocessing

    if any(m.split(".")[0] in ("PySide6", "shiboken6") for m in sys.modules):
        return multiprocessing.get_context("spawn")
    return None

