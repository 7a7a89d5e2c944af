"""Gating speed, ours next to FlowKit's on the same events and gates in the same run.

Events are ISAC ``data1.fcs`` tiled to 124,600 rows; the 11 gates mix ranges, rectangles,
polygons (incl. self-crossing), ellipse/ellipsoid, a quadrant gate, compensated logicle /
hyperlog scales, a ratio transform, a parent chain and Boolean gates. A second case gates
the simulated whole-blood panel with its template. For each case the script prints wall and
CPU time of ``GatingStrategy.evaluate`` and of a naive per-gate evaluation on the same
machine (every gate compensates/transforms all events itself, parents intersected after),
which is how the speed-up from caching and parent-restricted evaluation is measured. FlowKit
(in its own venv: ``benchmarks/peers.sh``, or ``$FLOWKIT_PYTHON``) gates the same events (written
to a temporary FCS file) with the same gates (written as Gating-ML by us, read by FlowKit), timed
in a subprocess (also on the 1M-event panel); without it the line says how to install it.
Goal: >= 5x FlowKit, never < 3x.
Run: ``.venv/bin/python benchmarks/bench_gating.py``
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages, not an installed copy

from gating.gates import BooleanGate, QuadrantGate  # noqa: E402
from gating.gatingml import read_gatingml  # noqa: E402
from gating.sample import Sample, read_fcs  # noqa: E402
from gating.strategy import GatingStrategy, _Evaluator  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SET1 = ROOT.parent / "shared" / "data" / "gatingml"
GATES = ["Range1", "Rectangle3", "Polygon1", "Polygon3NS", "Ellipse1", "Ellipsoid3D", "Quadrant1",
         "ScaleRect1", "ScalePar1", "RatRange1a", "And2"]
N_EVENTS = 124_600
FLOWKIT_PYTHON = Path(os.environ.get("FLOWKIT_PYTHON")
                      or Path.home() / ".cache" / "fastmix-studio" / "flowkit-venv" / "bin" / "python")
_FK_SCRIPT = """
import statistics, sys, time
import flowkit as fk
gs, s = fk.parse_gating_xml(sys.argv[1]), fk.Sample(sys.argv[2])
res = gs.gate_sample(s)
ts = []
for _ in range(int(sys.argv[3])):
    t = time.perf_counter(); gs.gate_sample(s); ts.append(time.perf_counter() - t)
print("median", statistics.median(ts), "version", fk.__version__)
"""


def flowkit_seconds(st: GatingStrategy, sample, reps: int = 9) -> tuple[float, str] | None:
    """FlowKit's median time to gate ``sample`` with ``st`` (same events, same gates), or None."""
    if not FLOWKIT_PYTHON.exists():
        return None
    from gating.gatingml import write_gatingml
    from gating.simulate import write_fcs

    with tempfile.TemporaryDirectory() as d:
        xml, fcs = Path(d) / "gates.xml", Path(d) / "events.fcs"
        write_gatingml(st, xml)
        write_fcs(sample, fcs)
        out = subprocess.run([str(FLOWKIT_PYTHON), "-c", _FK_SCRIPT, str(xml), str(fcs), str(reps)],
                             capture_output=True, text=True, timeout=1800)
    line = [ln.split() for ln in out.stdout.splitlines() if ln.startswith("median ")]
    if out.returncode != 0 or not line:
        print(f"  FlowKit failed: {out.stderr.strip().splitlines()[-1:] }")
        return None
    return float(line[0][1]), line[0][3]


def naive_evaluate(st: GatingStrategy, sample) -> dict[str, np.ndarray]:
    """Reference: each gate on all events with its own fresh compensation/transform work."""
    out: dict[str, np.ndarray] = {}

    def pop(pid: str) -> np.ndarray:
        if pid in out:
            return out[pid]
        g = st.gate_of(pid)
        if isinstance(g, BooleanGate):
            m = g.combine({r: pop(r) for r, _ in g.refs})
        else:
            res = g.contains(_Evaluator(st, sample).coordinates(g))
            m = res[pid] if isinstance(g, QuadrantGate) else res
        if g.parent_id is not None:
            m = m & pop(g.parent_id)
        out[pid] = m
        return m

    for p in st.population_ids():
        pop(p)
    return out


def _time(fn, reps: int = 9) -> tuple[float, float]:
    wall, cpu = [], []
    fn()
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return float(np.median(wall)), float(np.median(cpu))


def run_case(name: str, st: GatingStrategy, sample) -> None:
    res = st.evaluate(sample)
    ref = naive_evaluate(st, sample)
    assert all(np.array_equal(res.membership[k], ref[k]) for k in ref), "naive and cached results differ"
    w, c = _time(lambda: st.evaluate(sample))
    nw, nc = _time(lambda: naive_evaluate(st, sample))
    print(f"[{name}] events={sample.event_count} gates={len(st.gates)} populations={len(res.membership)}")
    print(f"  evaluate: wall {w*1000:7.1f} ms  cpu {c*1000:7.1f} ms")
    fk = flowkit_seconds(st, sample)
    if fk is None:
        print("  FlowKit: not installed (benchmarks/peers.sh, or set FLOWKIT_PYTHON); no FlowKit figure printed")
    else:
        print(f"  FlowKit {fk[1]} same events and gates, same run: wall {fk[0]*1000:7.1f} ms -> ours x{fk[0] / w:.1f} "
              "(goal >= x5, floor x3)")
    print(f"  = {sample.event_count * len(st.gates) / w / 1e6:.1f} M events/s per gate (wall)")
    print(f"  naive   : wall {nw*1000:7.1f} ms  cpu {nc*1000:7.1f} ms   -> speed-up x{nc/c:.1f} (cpu)")


def main() -> None:
    full = read_gatingml(SET1 / "Gating-MLFiles" / "gates1.xml")
    keep = set(GATES)
    st = GatingStrategy([full.gates[g] for g in full.gates if g in keep], full.transforms.values(),
                        full.compensations.values())
    base = read_fcs(SET1 / "FCSFiles" / "data1.fcs")
    reps = int(np.ceil(N_EVENTS / base.event_count))
    ev = np.tile(base.events, (reps, 1))[:N_EVENTS]
    run_case("ISAC set-1 gates", st, Sample.from_array(ev, list(base.channels), name="tiled"))
    try:
        from gating.simulate import simulate_whole_blood, whole_blood_template
    except ImportError:  # pragma: no cover - simulator owned by gating-io
        return
    blood, _ = simulate_whole_blood(N_EVENTS, seed=1)
    run_case("whole-blood template", whole_blood_template(), blood)
    run_large()
    # FlowJo workspace import + counting per file, next to FlowKit (see bench_workspaces.py)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_workspaces import main as bench_workspaces

    bench_workspaces()


# --- gating-io: events/s per gate, 1M x 12 channels, DAFi k=100 -------------------------------------
def _twelve_channel_blood(n: int, seed: int = 2):
    """Simulated whole blood plus SSC-H and a CD16 channel: n events x 12 channels."""
    from gating.simulate import simulate_whole_blood

    s, _ = simulate_whole_blood(n, seed=seed)
    rng = np.random.default_rng(seed)
    ssc_h = s.events[:, 2] * rng.normal(0.9, 0.03, n)
    cd16 = np.sinh(rng.normal(0.3, 0.1, n) * 4.5 * np.log(10)) * 262144 / np.sinh(4.5 * np.log(10))
    ev = np.column_stack([s.events, ssc_h, cd16])
    return Sample.from_array(ev, list(s.channels) + ["SSC-H", "PE-Cy5-A"], list(s.markers) + ["", "CD16"],
                             name="blood_1M")


def run_large() -> None:
    import os

    from gating.dafi import DafiRefiner
    from gating.simulate import simulate_whole_blood, whole_blood_template

    st = whole_blood_template()
    print(f"[gating-io] cores available: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}")
    blood, _ = simulate_whole_blood(N_EVENTS, seed=1)
    w, _ = _time(lambda: st.evaluate(blood), reps=5)
    print(f"[gating-io] {N_EVENTS} events x {len(st.gates)} gates: {w*1000:.1f} ms = "
          f"{N_EVENTS * len(st.gates) / w / 1e6:.1f} M events/s per gate")
    for label, fit_events in (("default: k-means fitted on a 30,000-event subsample", 30_000),
                              ("k-means fitted on all events", None)):
        runs = []
        for _ in range(3 if fit_events else 1):
            t0 = time.perf_counter()
            r = DafiRefiner(n_clusters=100, random_state=0, fit_events=fit_events).fit(blood, st)
            runs.append(time.perf_counter() - t0)
        print(f"[gating-io] DAFi k=100 on {N_EVENTS} x {len(r.audit_['channels'])} channels, {len(st.gates)} gates "
              f"({label}): wall median {np.median(runs):.2f} s, {r.audit_['iterations']['sample']} iterations")
    t0 = time.perf_counter()
    big = _twelve_channel_blood(1_000_000)
    print(f"[gating-io] simulated {big.event_count} x {big.channel_count} in {time.perf_counter() - t0:.1f} s")
    w, _ = _time(lambda: st.evaluate(big), reps=3)
    print(f"[gating-io] 1M events x {len(st.gates)} gates: {w*1000:.0f} ms = "
          f"{big.event_count * len(st.gates) / w / 1e6:.1f} M events/s per gate")
    fk = flowkit_seconds(st, big, reps=3)
    if fk is None:
        print("[gating-io] FlowKit: not installed (benchmarks/peers.sh, or set FLOWKIT_PYTHON); no FlowKit figure")
    else:
        print(f"[gating-io] FlowKit {fk[1]} on the same 1M events and gates, same run: {fk[0]*1000:.0f} ms "
              f"-> ours x{fk[0] / w:.1f} (goal >= x5, floor x3)")
    times, cpus = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        ref = DafiRefiner(n_clusters=100, random_state=0).fit(big, st)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    a = ref.audit_
    print(f"[gating-io] DAFi k=100 on 1M x {len(a['channels'])} channels, {len(st.gates)} gates: "
          f"wall median {np.median(times):.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}), "
          f"cpu median {np.median(cpus):.2f} s; target < 3 s; {a['method'][0]}, "
          f"{a['iterations']['sample']} iterations")


if __name__ == "__main__":
    main()
