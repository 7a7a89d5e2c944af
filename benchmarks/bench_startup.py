"""Cold start of ``python main.py`` to the first painted window (target < 3 s).

Spawns the app with ``FASTMIX_STUDIO_STARTUP_PROBE=1``: the window prints ``first-shown <epoch>``
right after its first paint and ``tabs-ready <epoch>`` once the workspaces are built, then quits.
Settings and user data go to a temp folder; without a display the offscreen platform is used.

    .venv/bin/python benchmarks/bench_startup.py [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 3.0


def probe_start(cmd: list[str], tmp: Path, base_env: dict[str, str], cwd: Path | None = None) -> tuple[float, float]:
    """Start ``cmd`` with the startup probe; seconds to the first paint and to all workspaces built."""
    env = dict(base_env)
    env.update(FASTMIX_STUDIO_STARTUP_PROBE="1", FASTMIX_STUDIO_SETTINGS=str(tmp / "settings.ini"),
               FASTMIX_STUDIO_DATA=str(tmp / "data"))
    if sys.platform.startswith("linux") and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    t0 = time.time()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    stamps = dict(ln.split()[:2] for ln in out.stdout.splitlines() if ln.startswith(("first-shown ", "tabs-ready ")))
    if out.returncode != 0 or len(stamps) != 2:
        raise SystemExit(f"app did not report its first paint (rc {out.returncode}):\n{out.stderr[-2000:]}")
    return float(stamps["first-shown"]) - t0, float(stamps["tabs-ready"]) - t0


def print_startup(label: str, runs: list[tuple[float, float]]) -> None:
    """Print first-paint and all-tabs-built times of ``runs`` (from :func:`probe_start`)."""
    shown, ready = [r[0] for r in runs], [r[1] for r in runs]
    med = statistics.median(shown)
    print(f"{label} to first painted window: first {shown[0]:.2f} s, median {med:.2f} s, "
          f"min {min(shown):.2f} s over {len(shown)} runs (target < {TARGET_S:.0f} s): "
          f"{'OK' if med < TARGET_S else 'TOO SLOW'}")
    print(f"{label} until all four workspaces are built: first {ready[0]:.2f} s, "
          f"median {statistics.median(ready):.2f} s, min {min(ready):.2f} s")


def one_run(tmp: Path) -> tuple[float, float]:
    return probe_start([sys.executable, str(ROOT / "main.py")], tmp, dict(os.environ), cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        runs = [one_run(Path(d)) for _ in range(args.runs)]
    print_startup("startup", runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
