"""Results-tab export of a 12.6k-gene study: the longest pause of the event loop while it runs,
the time it takes and what it writes (goal: no pause over 100 ms, at most 20 MB).

A 10 ms QTimer ticks during the export; the largest gap between ticks is the longest time the
window could not repaint or react. Real data: the ALL arrays (12,625 genes x 24 samples; the
cache from benchmarks/realdata.py) with four simulated cell fractions and a binary group, or
simulated expression when the cache is missing.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_export_ui.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CACHE = Path.home() / ".cache" / "fastmix-studio" / "realdata" / "all"


def _inputs(n: int = 24):
    rng = np.random.default_rng(1)
    if (CACHE / "expr.npy").is_file():
        X = np.load(CACHE / "expr.npy")[:, :n]
        genes, label = (CACHE / "probes.txt").read_text().split(), "ALL arrays (real)"
    else:
        X, genes, label = rng.normal(8, 1, (12625, n)), [f"G{i}" for i in range(12625)], "simulated"
    ids = [f"S{j:02d}" for j in range(n)]
    expr = pd.DataFrame(X, index=genes, columns=ids)
    props = pd.DataFrame(rng.dirichlet([8, 4, 2, 1], n), index=ids, columns=["Neu", "Lym", "Mono", "Eos"])
    cov = pd.DataFrame({"Group": rng.permutation(["case"] * (n // 2) + ["control"] * (n - n // 2))}, index=ids)
    return expr, props, cov, label


def main() -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from engine.fastmix import FastMix
    from gui.results_tab import ResultsTab
    from gui.workers import JobRunner

    app = QApplication.instance() or QApplication([])
    expr, props, cov, label = _inputs()
    fit = FastMix(include_covariate_main=False).fit(expr, props, cov)
    from PySide6.QtWidgets import QMainWindow

    window = QMainWindow()  # as in the app: the job status (progress, cancel) sits in the status bar
    jobs = JobRunner(window)
    tab = ResultsTab(None, jobs)
    window.setCentralWidget(tab)
    window.statusBar().addPermanentWidget(jobs.widget)
    window.resize(1280, 800)
    window.show()
    tab.set_results(fit.results_, fit)
    app.processEvents()
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    done: list[object] = []
    tab.export_finished.connect(done.append)
    tab.export_failed.connect(done.append)
    with tempfile.TemporaryDirectory() as d:
        timer.start(10)
        t0 = time.perf_counter()
        ticks.append(t0)
        tab.export_to(Path(d) / "export")
        sync = time.perf_counter() - t0  # the part that runs before the worker starts
        while not done:
            app.processEvents()
            time.sleep(0.002)
        elapsed = time.perf_counter() - t0
        timer.stop()
        files = [f for f in Path(d).rglob("*") if f.is_file()]
        size = sum(f.stat().st_size for f in files)
    gaps = np.diff(ticks)
    print(f"export of {expr.shape[0]:,} genes x {len(fit.results_.terms)} terms ({label}): {elapsed:.1f} s, "
          f"{len(files)} files, {size / 1e6:.1f} MB; longest event-loop pause {gaps.max() * 1000:.0f} ms "
          f"(goal <= 100 ms, <= 20 MB); {sync * 1000:.0f} ms of it before the worker started")
    jobs.shutdown()
    window.close()
    window.deleteLater()
    app.processEvents()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
