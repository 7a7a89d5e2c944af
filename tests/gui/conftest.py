"""Qt test hygiene: every test's windows are closed and collected before the next test starts.

Without this, Python's garbage collector may destroy a previous test's pyqtgraph items in the
middle of the next test's widget construction, which crashed the interpreter (segmentation
fault in a ColorBarItem's label) once the suite had grown past ~400 tests.
"""
from __future__ import annotations

import gc
import threading
import time

import pytest
from PySide6.QtCore import QThreadPool, QTimer

from gating.simulate import whole_blood_template
from gui.gating_tab import GatingTab
from gui.project_model import ProjectModel
from gui.workers import JobRunner
from tests.gui.studies import make_study, wait_read


@pytest.fixture(autouse=True)
def _collect_widgets_between_tests(qapp):
    yield
    for w in qapp.topLevelWidgets():
        try:
            w.close()
        except (AttributeError, RuntimeError):  # a pyqtgraph widget the test already closed
            pass
    qapp.processEvents()
    gc.collect()
    qapp.processEvents()


def _live_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.is_alive() and not t.daemon}


@pytest.fixture(autouse=True)
def _no_leaked_threads_or_timers(qapp):
    """Fail a test that leaves a worker thread running or a timer ticking on the application."""
    before = _live_threads()
    yield
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        qapp.processEvents()
        leaked = _live_threads() - before
        if not leaked and QThreadPool.globalInstance().activeThreadCount() == 0:
            break
        time.sleep(0.02)
    assert not leaked, f"test left threads running: {sorted(t.name for t in leaked)}"
    assert QThreadPool.globalInstance().activeThreadCount() == 0, "test left QThreadPool work running"
    timers = [t for t in qapp.findChildren(QTimer) if t.isActive()]
    assert not timers, f"test left {len(timers)} timer(s) running on the application"


@pytest.fixture
def gating_tab(qtbot, tmp_path):
    """The Gating tab on 3 simulated donors plus a broken file, with the whole-blood gates, read in."""
    paths = make_study(tmp_path)
    project = ProjectModel()
    project.add_fcs_files(paths)
    strategy = whole_blood_template()
    project.strategy = strategy
    project.update_section("strategy", strategy.to_dict())
    jobs = JobRunner()
    w = GatingTab(project, jobs)
    qtbot.addWidget(w)
    w.resize(1280, 760)
    w.show()
    qtbot.waitExposed(w)
    wait_read(qtbot, w)
    yield w
    jobs.shutdown()
