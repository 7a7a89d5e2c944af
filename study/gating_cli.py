"""Headless gating: ``python main.py gate --template T.xml|T.wsp FCS... --out DIR``.

Writes ``DIR/counts.csv`` (tidy ``sample, population, count, parent_count, pct_parent,
pct_total, engine``; ``engine`` = ``exact``, ``flowjo`` (FlowJo-compatible binned counting of
FlowJo workspaces, ``--counting`` to change) or ``dafi``; with ``--dafi`` also ``dafi``, ``plain``
and ``dafi_ratio``, and a warning on stderr names every population DAFi shrank below half) and
``DIR/proportions.csv`` (samples x populations, fractions of the chosen populations), and with
``--events`` one ``<stem>_events.csv`` per file (0/1 per gate id).
Files that fail are listed on stderr, the others are still written; exit code 2 if anything
failed, 0 otherwise.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from gating.errors import GatingError
from study.cluster import ClusterUnavailable, dask_executor
from study.files import atomic_path, write_json

__all__ = ["main", "load_template"]

EXIT_OK, EXIT_INPUT = 0, 2


def load_template(path: str | os.PathLike, sample_name: str | None = None, *, counting: str | None = None,
                  event_count: int | None = None):
    """Read a gating template recognised by content (see :mod:`gating.templates`)."""
    from gating.templates import load_template as _load

    return _load(path, sample_name, counting=counting, event_count=event_count)


def _event_count(fcs: str) -> int | None:
    """``$TOT`` of an FCS file (to pick among workspace samples sharing a name), None if unreadable."""
    from gating.sample import FCSError, read_fcs_metadata

    try:
        meta = read_fcs_metadata(fcs)
    except (FCSError, OSError):
        return None
    tot = next((v for k, v in meta.items() if k.strip().upper() == "$TOT"), None)
    try:
        return int(str(tot).strip())
    except ValueError:
        return None


def _write_csv(df, path: Path, **kw) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, **kw)


def _executor(args):
    """The Dask executor for ``--scheduler``, or None (local processes)."""
    if not args.scheduler:
        return contextlib.nullcontext(None)
    return dask_executor(args.scheduler, workers=max(1, args.processes))


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="main.py gate", description="Gate FCS files with one template (headless).")
    ap.add_argument("fcs", nargs="+", help="FCS / LMD files")
    ap.add_argument("--template", required=True,
                    help="Gating-ML 2.0, FlowJo 7-10 workspace (.xml/.wsp) or strategy .json (recognised by content)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--dafi", action="store_true", help="refine gates with DAFi cluster-centroid gating")
    ap.add_argument("--seed", type=int, default=0, help="DAFi k-means seed (default 0)")
    ap.add_argument("--k", type=int, default=100, help="DAFi number of clusters (default 100)")
    ap.add_argument("--events", action="store_true", help="also write <stem>_events.csv (0/1 per gate) per file")
    ap.add_argument("--populations", default=None,
                    help="comma-separated populations for proportions.csv (default: leaf populations)")
    ap.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--scheduler", default=None,
                    help="run the files on Dask: 'local' (a LocalCluster of --processes workers) or a scheduler "
                         "address such as tcp://HOST:8786 whose workers see the files at the same paths "
                         '(needs pip install -e ".[cluster]")')
    ap.add_argument("--counting", choices=("flowjo", "exact"), default=None,
                    help="FlowJo workspaces: count on FlowJo's binned display scale (flowjo, default) or exactly")
    ap.add_argument("--wsp-sample", default=None, help="sample whose gates to take from a .wsp (default: first)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from gating.batch import gate_batch

    out = Path(args.out)
    try:
        tot = _event_count(args.fcs[0]) if args.wsp_sample else None
        strategy = load_template(args.template, args.wsp_sample, counting=args.counting, event_count=tot)
    except GatingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if not strategy.gates:
        print(f"error: {Path(args.template).name}: template contains no gates", file=sys.stderr)
        return EXIT_INPUT
    if args.populations:
        wanted = [p.strip() for p in args.populations.split(",") if p.strip()]
    else:
        wanted = [p for p in strategy.population_ids() if not strategy.children(p)]
    out.mkdir(parents=True, exist_ok=True)

    dafi = None
    if args.dafi:
        from gating.dafi import DafiRefiner

        dafi = DafiRefiner(n_clusters=args.k, random_state=args.seed)

    def progress(done: int, total: int, msg: str) -> None:
        if msg.startswith("gated"):
            print(f"[{done}/{total}] {msg}", file=sys.stderr)

    # per-file event tables are written into a hidden staging folder and moved in once complete
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.events-", dir=out)) if args.events else None
    try:
        with _executor(args) as executor:
            res = gate_batch(args.fcs, strategy, dafi=dafi, processes=args.processes, progress=progress,
                             events_dir=staging, executor=executor)
        for done in sorted(staging.iterdir()) if staging else ():
            os.replace(done, out / done.name)
    except ClusterUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    failed = dict(res.errors)
    _write_csv(res.counts, out / "counts.csv", index=False)
    try:
        props = res.proportions(wanted)
    except GatingError as exc:
        print(f"error: --populations: {exc}", file=sys.stderr)
        props = None
    if props is not None:
        _write_csv(props, out / "proportions.csv")
    for name, audit in res.audits.items():
        for w in audit.get("warnings", []):
            print(f"warning: {name}: {w}", file=sys.stderr)
    if res.audits:
        write_json(out / "dafi_audit.json", res.audits, default=str)
    ok = len(res.samples)
    print(f"gated {ok} of {len(args.fcs)} file(s); results in {out}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} file(s) failed:", file=sys.stderr)
        for path, msg in failed.items():
            print(f"  {msg}", file=sys.stderr)
    return EXIT_INPUT if failed or props is None else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
