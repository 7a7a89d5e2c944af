"""Worker / JobRunner: progress relayed, cancel stops, failures come back as one line."""
from __future__ import annotations

import threading
import time

import pytest

from engine.errors import InputError
from engine.progress import Cancelled, report
from gui.workers import JobRunner, Worker, one_line_error


def _count(n, *, progress=None, delay=0.0):
    total = 0
    for i in range(n):
        total += i
        if delay:
            time.sleep(delay)
        report(progress, i + 1, n, f"step {i + 1}")
    return total


def _fail(*, progress=None):
    report(progress, 0, 1, "start")
    raise InputError("value 'abc' is not a number", file="expr.csv", column="Subj3", row="Gene17")


def test_worker_runs_synchronously_and_relays_progress(qtbot):
    worker = Worker(_count, 5)
    seen = []
    worker.progress.connect(lambda d, t, m: seen.append((d, t, m)))
    with qtbot.waitSignal(worker.finished) as blocker:
        worker.run()
    assert blocker.args == [10]
    assert seen[0] == (1, 5, "step 1") and seen[-1] == (5, 5, "step 5")
    assert worker.state == "finished" and worker.result == 10


def test_worker_failure_gives_one_line_message(qtbot):
    worker = Worker(_fail)
    with qtbot.waitSignal(worker.failed) as blocker:
        worker.run()
    msg = blocker.args[0]
    assert msg == "expr.csv, column 'Subj3', row 'Gene17': value 'abc' is not a number"
    assert "\n" not in msg and "Traceback" in worker.traceback
    assert one_line_error(ZeroDivisionError("division by zero\nmore")) == "ZeroDivisionError: division by zero"


def test_jobrunner_progress_bar_shows_then_hides(qtbot):
    jobs = JobRunner()
    qtbot.addWidget(jobs.widget)
    gate = threading.Event()

    def slow(*, progress=None):
        report(progress, 1, 4, "reading")
        gate.wait(5)
        report(progress, 4, 4, "done")
        return "ok"

    worker = Worker(slow)
    got = []
    worker.finished.connect(jobs.widget.setWindowTitle)  # a QObject slot: runs in the GUI thread
    worker.finished.connect(got.append)
    with qtbot.waitSignal(worker.progress, timeout=5000):
        jobs.start(worker, "Reading FCS")
    assert jobs.is_running()
    assert not jobs.widget.isHidden()
    qtbot.waitUntil(lambda: jobs.progress_bar.maximum() == 4, timeout=5000)
    assert jobs.progress_bar.value() == 1
    assert "Reading FCS" in jobs.label.text()
    with qtbot.waitSignal(jobs.job_finished, timeout=5000) as blocker:
        gate.set()
    assert blocker.args == ["Reading FCS"]
    assert got == ["ok"] and jobs.widget.windowTitle() == "ok"
    assert jobs.widget.isHidden() and not jobs.is_running()


def test_cancel_button_stops_running_job(qtbot):
    from PySide6.QtCore import Qt

    jobs = JobRunner()
    qtbot.addWidget(jobs.widget)
    jobs.widget.show()
    worker = Worker(_count, 10_000, delay=0.002)
    finished = []
    worker.finished.connect(finished.append)
    with qtbot.waitSignal(worker.progress, timeout=5000):
        jobs.start(worker, "Long job")
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        qtbot.mouseClick(jobs.cancel_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: not jobs.is_running(), timeout=5000)
    assert finished == [] and worker.state == "cancelled"


def test_failure_reaches_runner_and_newer_job_supersedes_older(qtbot):
    jobs = JobRunner()
    qtbot.addWidget(jobs.widget)
    failures = []
    jobs.job_failed.connect(lambda label, msg: failures.append((label, msg)))
    bad = Worker(_fail)
    with qtbot.waitSignal(jobs.job_finished, timeout=5000):
        jobs.start(bad, "Load sheet")
    assert failures == [("Load sheet", "expr.csv, column 'Subj3', row 'Gene17': value 'abc' is not a number")]

    old = Worker(_count, 10_000, delay=0.002)
    new = Worker(_count, 3)
    with qtbot.waitSignal(old.progress, timeout=5000):
        jobs.start(old, "Fit")
    with qtbot.waitSignals([old.cancelled, new.finished], timeout=5000):
        jobs.start(new, "Fit")
    qtbot.waitUntil(lambda: not jobs.is_running(), timeout=5000)
    assert old.state == "cancelled" and new.result == 3


def test_cancelled_before_start_and_shutdown(qtbot):
    jobs = JobRunner()
    qtbot.addWidget(jobs.widget)
    w = Worker(_count, 10_000, delay=0.002)
    with qtbot.waitSignal(w.progress, timeout=5000):
        jobs.start(w, "x")
    assert jobs.shutdown(5000)
    assert not jobs.is_running() and w.state == "cancelled"
    w2 = Worker(_count, 3)
    w2.cancel()
    with qtbot.waitSignal(w2.cancelled):
        w2.run()
    with pytest.raises(Cancelled):
        w2._progress(1, 2, "")
