"""Redraw time of a 1M-event density plot after a channel change (target < 150 ms).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_density.py
Times ``DensityPlotWidget.set_data`` + a forced paint (``grab``) for a new X channel, then the
same in the real Gating tab (1M simulated whole-blood events, template gates, asinh/logicle axes):
picking a new X channel in the combo box until the plot is painted (transform of the new
channel, population mask, binning, gate items and labels).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui.plots.density import DensityPlotWidget, histogram2d  # noqa: E402


def main() -> int:
    app = QApplication.instance() or QApplication([])
    rng = np.random.default_rng(0)
    n = 1_000_000
    channels = [rng.lognormal(mean=m, sigma=0.6, size=n) for m in (2.0, 3.0, 4.0, 5.0)]
    w = DensityPlotWidget()
    w.resize(800, 600)
    w.show()
    w.set_data(channels[0], channels[1], x_label="ch0", y_label="ch1")
    w.grab()
    app.processEvents()
    times = []
    for rep in range(6):
        x = channels[(rep % 3) + 1]
        t0 = time.perf_counter()
        w.set_data(x, channels[0], x_label=f"ch{rep}", y_label="ch0")
        w.grab()
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    histogram2d(channels[0], channels[1], bins=256, x_range=(0, 100), y_range=(0, 200))
    t_hist = time.perf_counter() - t0
    t0 = time.perf_counter()
    np.histogram2d(channels[0], channels[1], bins=256, range=[(0, 100), (0, 200)])
    t_np = time.perf_counter() - t0
    med = 1000 * float(np.median(times))
    print(f"1M-event density redraw after channel change: median {med:.0f} ms "
          f"(min {1000 * min(times):.0f}, max {1000 * max(times):.0f}; target < 150 ms)")
    print(f"binning only: bincount {1000 * t_hist:.0f} ms vs np.histogram2d {1000 * t_np:.0f} ms")
    w.close()
    bench_gating_tab(app)
    return 0


def bench_gating_tab(app) -> None:
    from gating.simulate import simulate_whole_blood, whole_blood_template
    from gui.gating_tab import GatingTab
    from gui.project_model import ProjectModel
    from gui.workers import JobRunner

    sample, _ = simulate_whole_blood(1_000_000, seed=1)
    sample.name = "big"
    project = ProjectModel()
    strategy = whole_blood_template()
    project.strategy = strategy
    project.update_section("strategy", strategy.to_dict())
    project.set_samples({"big": sample})
    jobs = JobRunner()
    tab = GatingTab(project, jobs)
    tab.resize(1280, 800)
    tab.show()
    tab.select_population(strategy.gates["Neutrophils"].parent_id)  # gates with counts on the plot
    tab.plot.grab()
    app.processEvents()
    times = []
    chans = [c for c in sample.channels if c != tab.y_channel.currentData()]
    for rep in range(8):
        ch = chans[rep % len(chans)]
        t0 = time.perf_counter()
        tab.x_channel.setCurrentIndex(tab.x_channel.findData(ch))
        tab.plot.grab()
        times.append(time.perf_counter() - t0)
    med = 1000 * float(np.median(times))
    print(f"Gating tab, {sample.event_count:,} events, X channel changed in the combo box: median {med:.0f} ms "
          f"(min {1000 * min(times):.0f}, max {1000 * max(times):.0f}; target < 150 ms)")
    tab.close()
    jobs.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
