"""Small simulated studies the GUI tests share (FCS donors on disk) and how to wait for them."""
from __future__ import annotations

from gating.simulate import simulate_whole_blood, write_fcs

N_EVENTS = 6000


def make_study(folder, n=3, corrupt=True):
    paths = []
    for i in range(n):
        sample, _ = simulate_whole_blood(N_EVENTS, seed=10 + i)
        sample.name = f"donor{i + 1}"
        paths.append(write_fcs(sample, folder / f"donor{i + 1}.fcs"))
    if corrupt:
        bad = folder / "broken.fcs"
        bad.write_bytes(b"FCS3.1    garbage that is not an FCS file" * 3)
        paths.append(bad)
    return paths


def wait_read(qtbot, tab, timeout=30000):
    """The FCS files are read in a worker: wait until they are in and the first sample is shown."""
    qtbot.waitUntil(lambda: tab.project.sample_reader is None and not tab.jobs.is_running()
                    and tab.current_sample is not None, timeout=timeout)
