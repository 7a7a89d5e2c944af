"""FlowJo workspace import and counting time per file, ours next to FlowKit's in the same run.

``count x`` is FlowKit's counting time over ours, ``total x`` the same for import + counting.

For each FlowJo 10 example workspace (FlowKit's own test data in ``../shared/data/fcs/flowkit``)
we time (a) import = FCS read + workspace parse, (b) counting = evaluating every gate, with the
median of 5 repetitions, and compare each population count with FlowJo's stored one.  FlowKit
is timed in a subprocess of ``$FLOWKIT_PYTHON`` (a Python with ``flowkit`` installed; FlowKit
pins pandas < 3, so it lives in its own virtual environment), or in-process when importable:
``Workspace(wsp, fcs_samples=fcs)`` (parse + FCS read) and ``analyze_samples``.  Our FlowJo
8/9 workspaces are timed as well (FlowKit refuses them).
Run: ``FLOWKIT_PYTHON=/path/to/venv/bin/python .venv/bin/python benchmarks/bench_workspaces.py``
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
FK = DATA / "fcs" / "flowkit"
FJ10 = [("simple_diamond_example_quad_gate.wsp", "test_data_diamond_01.fcs"),
        ("test_data_diamond_biex_rect.wsp", "test_data_diamond_01.fcs"),
        ("test_data_diamond_asinh_rect.wsp", "test_data_diamond_01.fcs"),
        ("test_data_diamond_asinh_rect2.wsp", "test_data_diamond_01.fcs"),
        ("simple_poly_and_rect.wsp", "data_set_simple_line_100.fcs"),
        ("simple_poly_and_rect_v2_poly50.wsp", "data_set_simple_line_100.fcs"),
        ("single_ellipse_51_events.wsp", "data_set_simple_line_100.fcs")]
FJ9 = [(DATA / "fcs/flowworkspacedata/A2004Analysis.xml", DATA / "fcs/flowworkspacedata/a2004_O1T2pb05i_A2_A02.fcs"),
       (DATA / "flowjo-labkey/advanced/advanced-v8.5.3.xml", DATA / "flowjo-labkey/advanced/931115-E02- Sample 04.fcs")]
REPS = 5

FLOWKIT_SCRIPT = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, flowkit as fk
out = {}
for wsp, fcs in json.loads(sys.argv[1]):
    imp, cnt, counts = [], [], {}
    for _ in range(%d):
        t = time.perf_counter(); w = fk.Workspace(wsp, fcs_samples=fcs)
        imp.append(time.perf_counter() - t)
        sid = w.get_sample_ids()[0]
        t = time.perf_counter(); w.analyze_samples(sample_id=sid, use_mp=False)
        cnt.append(time.perf_counter() - t)
        rep = w.get_gating_results(sid).report
        counts = {str(r.gate_name): int(r["count"]) for _, r in rep.iterrows()}
    out[wsp] = {"import": float(np.median(imp)), "count": float(np.median(cnt)), "counts": counts,
                "version": fk.__version__}
print(json.dumps(out))
""" % REPS


def _ours(wsp: Path, fcs: Path) -> dict:
    from gating.flowjo import read_wsp, wsp_stored_counts
    from gating.sample import read_fcs

    imp, cnt = [], []
    for _ in range(REPS):
        t = time.perf_counter()
        sample = read_fcs(fcs)
        st = read_wsp(wsp, fcs.name)
        imp.append(time.perf_counter() - t)
        t = time.perf_counter()
        res = st.evaluate(sample)
        cnt.append(time.perf_counter() - t)
    df = res.counts()
    got = dict(zip(df["population"], df["count"]))
    stored = {p: c for p, c in wsp_stored_counts(wsp, fcs.name).items() if c >= 0}
    hits = sum(abs(got.get(p, -10**9) - c) <= max(2, 0.005 * c) for p, c in stored.items())
    return {"import": float(np.median(imp)), "count": float(np.median(cnt)), "engine": st.counting,
            "stored": stored, "hits": hits, "events": sample.event_count, "gates": len(st.gates)}


FLOWKIT_VENV = Path.home() / ".cache" / "fastmix-studio" / "flowkit-venv" / "bin" / "python"  # benchmarks/peers.sh


def _flowkit(pairs: list[tuple[str, str]]) -> dict | None:
    py = os.environ.get("FLOWKIT_PYTHON") or (str(FLOWKIT_VENV) if FLOWKIT_VENV.exists() else None)
    cmd = [py] if py else None
    if cmd is None:
        try:
            import flowkit  # noqa: F401
            cmd = [sys.executable]
        except ImportError:
            return None
    out = subprocess.run(cmd + ["-c", FLOWKIT_SCRIPT, json.dumps(pairs)], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"[workspaces] FlowKit failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(out.stdout)


def main() -> None:
    pairs = [(str(FK / w), str(FK / f)) for w, f in FJ10]
    fk_res = _flowkit(pairs)
    if fk_res is None:
        print("[workspaces] FlowKit not available (benchmarks/peers.sh, or set FLOWKIT_PYTHON): only our times "
              "are shown")
    print(f"[workspaces] median of {REPS}; import = FCS read + workspace parse; count = all gates")
    print(f"{'workspace':40s} {'events':>7s} {'ours import':>11s} {'count':>8s} {'FlowJo':>7s} "
          f"{'FlowKit import':>14s} {'count':>8s} {'FlowJo':>7s} {'count x':>8s} {'total x':>8s}")
    for (wsp, fcs) in pairs:
        o = _ours(Path(wsp), Path(fcs))
        line = (f"{Path(wsp).name:40s} {o['events']:7d} {o['import']*1000:9.1f}ms {o['count']*1000:6.1f}ms "
                f"{o['hits']:3d}/{len(o['stored']):<3d}")
        f = (fk_res or {}).get(wsp)
        if f:
            fk_hits = sum(abs(f["counts"].get(p.rsplit("/", 1)[-1], -10**9) - c) <= max(2, 0.005 * c)
                          for p, c in o["stored"].items())
            line += (f" {f['import']*1000:12.1f}ms {f['count']*1000:6.1f}ms {fk_hits:3d}/{len(o['stored']):<3d}"
                     f" {f['count'] / o['count']:7.1f}x {(f['import'] + f['count']) / (o['import'] + o['count']):7.1f}x")
        print(line)
    for wsp, fcs in FJ9:
        o = _ours(wsp, fcs)
        print(f"{wsp.name:40s} {o['events']:7d} {o['import']*1000:9.1f}ms {o['count']*1000:6.1f}ms "
              f"{o['hits']:3d}/{len(o['stored']):<3d} (FlowJo {o['engine']} counting; FlowKit refuses FlowJo 8/9)")


if __name__ == "__main__":
    main()
