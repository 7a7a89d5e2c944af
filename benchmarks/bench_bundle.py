"""Standalone bundle figures: build time, bundle size, start to first painted window with ``--demo``.

Builds ``dist/FastMixStudio/`` with ``packaging/build.py`` (skip with ``--no-build``), then starts the
bundle's executable with ``--demo`` and ``FASTMIX_STUDIO_STARTUP_PROBE=1`` several times (the window
prints ``first-shown <epoch>`` at its first paint and quits once the workspaces are built), and
runs its ``--self-test`` once. Target: < 3 s to the first window.

    .venv/bin/python benchmarks/bench_bundle.py [--no-build] [--runs 5]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_startup import print_startup, probe_start  # noqa: E402

BUNDLE = ROOT / "dist" / "FastMixStudio"
EXE = BUNDLE / ("FastMixStudio.exe" if sys.platform.startswith("win") else "FastMixStudio")


def folder_size(path: Path) -> tuple[int, int]:
    files = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def first_paint(tmp: Path) -> tuple[float, float]:
    """The bundle started with ``--demo`` and an emptied environment (a PC without Python)."""
    env = {"HOME": str(tmp), "LANG": "C.UTF-8"}
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "SYSTEMROOT", "LOCALAPPDATA"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    return probe_start([str(EXE), "--demo"], tmp, env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-build", action="store_true", help="measure the existing dist/FastMixStudio")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    if not args.no_build:
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(ROOT / "packaging" / "build.py")], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if rc != 0:
            raise SystemExit("build failed: run packaging/build.py to see why")
        print(f"build time (PyInstaller onedir, --clean): {time.perf_counter() - t0:.1f} s")
    if not EXE.is_file():
        raise SystemExit(f"{EXE} not found: build first")
    size, n_files = folder_size(BUNDLE)
    print(f"bundle size: {size / 2**20:.0f} MiB in {n_files:,} files ({BUNDLE})")
    with tempfile.TemporaryDirectory() as d:
        runs = [first_paint(Path(d)) for _ in range(args.runs)]
        print_startup("bundle --demo", runs)
        env = {"HOME": d, "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen"}
        t0 = time.perf_counter()
        out = subprocess.run([str(EXE), "--self-test"], env=env, capture_output=True, text=True, timeout=600)
        print(f"bundle --self-test: rc {out.returncode} in {time.perf_counter() - t0:.1f} s wall "
              f"({out.stdout.strip().splitlines()[-1] if out.stdout.strip() else 'no output'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
