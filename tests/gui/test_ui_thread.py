"""The UI thread never computes, and UI code never runs in a worker thread.

* FCS files are read in a worker, once, whoever asks first (Gating tab or main window); the tab
  lists them as "reading…" meanwhile and fills in when they arrive.
* Callbacks of workers that touch widgets (auto-tune review, Study table loads, Results export)
  run on the UI thread: a plain lambda connected to a worker signal would run in the worker.
"""
from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from gating.sample import read_fcs
from gating.simulate import whole_blood_template
from gui import samples as samples_mod
from gui.gating_tab import GatingTab
from gui.project_model import ProjectModel
from gui.workers import JobRunner, Worker
from tests.gui.studies import make_study, wait_read


def _on_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def _project_with_template(paths) -> tuple[ProjectModel, object]:
    """A project of ``paths`` (not read yet) gated by the whole-blood template."""
    project = ProjectModel()
    project.add_fcs_files(paths)
    strategy = whole_blood_template()
    project.strategy = strategy
    project.update_section("strategy", strategy.to_dict())
    return project, strategy


@pytest.fixture
def jobs():
    runner = JobRunner()
    yield runner
    runner.shutdown()


def test_call_in_ui_runs_closures_on_the_ui_thread(qtbot, jobs):
    seen = []
    w = Worker(lambda *, progress=None: 42)
    w.finished.connect(lambda r: seen.append(("plain lambda", _on_main())))  # what not to do
    w.call_in_ui(w.finished, lambda r: seen.append(("call_in_ui", _on_main(), r)))
    bad = Worker(lambda *, progress=None: 1 / 0)
    bad.call_in_ui(bad.failed, lambda msg: seen.append(("failed", _on_main(), msg)))
    with qtbot.waitSignal(jobs.job_finished, timeout=5000):
        jobs.start(w, "a")
    with qtbot.waitSignal(jobs.job_finished, timeout=5000):
        jobs.start(bad, "b")
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=5000)
    assert ("plain lambda", False) in seen            # why call_in_ui exists
    assert ("call_in_ui", True, 42) in seen
    assert ("failed", True, "ZeroDivisionError: division by zero") in seen


def test_fcs_files_are_read_in_a_worker_once(qtbot, tmp_path, jobs, monkeypatch):
    paths = make_study(tmp_path, n=3, corrupt=True)
    threads = []
    real = read_fcs

    def spy(path, *a, **k):
        threads.append(_on_main())
        return real(path, *a, **k)

    monkeypatch.setattr("gating.sample.read_fcs", spy)
    project, strategy = _project_with_template(paths)
    tab = GatingTab(project, jobs)
    qtbot.addWidget(tab)
    # the constructor returned before any file was read: all listed as being read
    assert tab.sample_model.ok_names() == []
    assert tab.sample_model.data(tab.sample_model.index(0)) == "donor1  (reading…)"
    assert jobs.running_labels() == ["Reading 4 FCS files"]
    # a second request while reading (the main window's, after Open) starts nothing new
    assert samples_mod.read_missing_samples(project, jobs) is project.sample_reader
    wait_read(qtbot, tab)
    assert threads == [False] * 4                                  # read in the worker, each once
    assert tab.sample_model.ok_names() == ["donor1", "donor2", "donor3"]
    assert "cannot read" in tab.sample_model.data(tab.sample_model.index(3))
    # the plot and tree show donor1 with counts from gating/
    res = strategy.evaluate(project.samples["donor1"])
    first = strategy.children(None)[0]
    assert tab.tree_model.data(tab.tree_model.index_of(first, 1)) == f"{res.count(first):,}"
    # files added later: read in a worker too; the list keeps the current sample
    extra = make_study(tmp_path / "more", n=1, corrupt=False)[0].rename(tmp_path / "more" / "donor9.fcs")
    project.add_fcs_files([extra])
    assert tab.sample_model.data(tab.sample_model.index(4)) == "donor9  (reading…)"
    qtbot.waitUntil(lambda: "donor9" in tab.sample_model.ok_names() and not jobs.is_running(), timeout=30000)
    assert threads == [False] * 5 and tab.current_sample == "donor1"


def _slow_reader(monkeypatch, gate: threading.Event):
    """Reading waits for ``gate`` (reporting progress, so a cancel stops it), then reads for real."""
    real = samples_mod.read_samples

    def slow(paths, *, progress=None):
        while not gate.wait(0.01):
            progress(0, len(paths), "waiting")
        return real(paths, progress=progress)

    monkeypatch.setattr(samples_mod, "read_samples", slow)


def test_reader_result_for_a_replaced_project_is_dropped(qtbot, tmp_path, jobs, monkeypatch):
    paths = make_study(tmp_path, n=2, corrupt=False)
    project = ProjectModel()
    project.add_fcs_files(paths)
    gate = threading.Event()
    _slow_reader(monkeypatch, gate)
    worker = samples_mod.read_missing_samples(project, jobs)
    assert worker is not None and project.reading == {"donor1", "donor2"}
    project.new()                                  # File > New while the files are read
    assert project.sample_reader is None
    gate.set()
    qtbot.waitUntil(lambda: not jobs.is_running(), timeout=10000)
    qtbot.wait(50)
    assert worker.state == "finished" and project.samples == {}


def test_cancelled_reading_lists_files_as_not_read(qtbot, tmp_path, jobs, monkeypatch):
    paths = make_study(tmp_path, n=2, corrupt=False)
    project = ProjectModel()
    project.add_fcs_files(paths)
    _slow_reader(monkeypatch, threading.Event())
    tab = GatingTab(project, jobs)
    qtbot.addWidget(tab)
    assert tab.sample_model.data(tab.sample_model.index(0)) == "donor1  (reading…)"
    qtbot.mouseClick(jobs.cancel_button, Qt.LeftButton)          # the status bar's Cancel
    qtbot.waitUntil(lambda: not jobs.is_running() and project.sample_reader is None, timeout=10000)
    assert project.samples == {}
    assert tab.sample_model.data(tab.sample_model.index(0)) == "donor1  (not read)"
    assert tab.sample_model.data(tab.sample_model.index(0), Qt.ForegroundRole).name() == "#808080"
    # Apply to all does not crash on unread files: they are reported, not gated
    with qtbot.waitSignal(tab.batch_finished, timeout=10000):
        tab.apply_to_all()
    counts, errors = tab.batch_
    assert set(errors) == {"donor1", "donor2"} and counts.empty
    tab.batch_dialog.close()
    # asking again (e.g. re-opening) reads them
    monkeypatch.undo()
    samples_mod.read_missing_samples(project, jobs)
    wait_read(qtbot, tab)
    assert tab.sample_model.ok_names() == ["donor1", "donor2"]


def test_autotune_review_opens_on_the_ui_thread(qtbot, tmp_path, jobs, monkeypatch):
    paths = make_study(tmp_path, n=2, corrupt=False)
    project, strategy = _project_with_template(paths)
    tab = GatingTab(project, jobs)
    qtbot.addWidget(tab)
    wait_read(qtbot, tab)
    seen = []
    monkeypatch.setattr(tab, "_on_autotuned", lambda gid, res: seen.append((gid, _on_main(), sorted(res))))
    tab.autotune("Neutrophils")
    qtbot.waitUntil(lambda: bool(seen), timeout=60000)
    assert seen == [("Neutrophils", True, ["donor1", "donor2"])]


def test_study_background_load_fills_the_table_on_the_ui_thread(qtbot, tmp_path, jobs, monkeypatch):
    from gui.study_tab import StudyTab
    from tests.gui.test_study_tab import make_study as make_tables

    files = make_tables(tmp_path / "s")
    study = StudyTab(ProjectModel(), jobs)
    qtbot.addWidget(study)
    seen = []
    real = study.load_sheet
    monkeypatch.setattr(study, "load_sheet", lambda p: (seen.append(_on_main()), real(p))[1])
    study.load_in_background("sheet", files["sheet"])
    qtbot.waitUntil(lambda: bool(seen) and not jobs.is_running(), timeout=30000)
    assert seen == [True]
    assert study.sheet_model.rowCount() > 0


def test_results_export_callbacks_on_the_ui_thread(qtbot, tmp_path, jobs, monkeypatch):
    from gui.results_tab import ResultsTab
    from tests.gui.test_results_tab import _fit  # the small fitted model the Results tests use

    project = ProjectModel()
    tab = ResultsTab(project, jobs)
    qtbot.addWidget(tab)
    project.fit = _fit()[1]
    seen = []
    monkeypatch.setattr(tab, "_remember_folder", lambda folder: seen.append(_on_main()))
    with qtbot.waitSignal(tab.export_finished, timeout=60000):
        tab.export_to(tmp_path / "out")
    assert seen == [True]
    assert (tmp_path / "out" / "results.xlsx").is_file()
    assert tab.last_export_folder == tmp_path / "out" and tab.export_button.isEnabled()
