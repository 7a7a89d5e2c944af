"""ProjectModel: versioned JSON, relative paths, atomic saves, undo, autosave and recovery."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from gui import project_model as pm
from gui.project_model import ProjectModel
from study.files import file_mode


@pytest.fixture(autouse=True)
def _user_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMIX_STUDIO_DATA", str(tmp_path / "userdata"))


def _project_with_files(tmp_path: Path) -> ProjectModel:
    data = tmp_path / "data"
    data.mkdir()
    files = [data / f"s{i}.fcs" for i in range(3)]
    for f in files:
        f.write_bytes(b"FCS3.1")
    model = ProjectModel()
    assert model.add_fcs_files(files) == [f.as_posix() for f in files]  # absolute while unsaved
    assert model.add_fcs_files(files[:1]) == []  # no duplicates
    model.update_section("study", {"sheet_path": str(data / "sheet.csv"), "roles": {"age": "covariate"}})
    model.update_section("analysis", {"trim": 0.5, "terms": ["Cell1", "Group"]})
    return model


def test_save_as_writes_relative_paths_and_reloads_identically(tmp_path, qtbot):
    model = _project_with_files(tmp_path)
    assert model.dirty
    target = tmp_path / "proj" / "study.fmsproj"
    with qtbot.waitSignal(model.path_changed):
        model.save(target)
    assert not model.dirty and model.path == target.resolve()
    assert stat.S_IMODE(target.stat().st_mode) == file_mode()  # a project file others in the lab can read
    raw = json.loads(target.read_text(encoding="utf-8"))
    assert raw["format"] == "fastmix-studio-project" and raw["version"] == 1
    assert raw["fcs_files"] == ["../data/s0.fcs", "../data/s1.fcs", "../data/s2.fcs"]
    assert raw["study"]["sheet_path"] == "../data/sheet.csv"
    assert raw["study"]["roles"] == {"age": "covariate"}  # not a path: untouched
    again = ProjectModel.load(target)
    assert again.data == model.data
    assert again.fcs_paths()[1] == (tmp_path / "data" / "s1.fcs").resolve()
    # Save As elsewhere rebases the relative paths
    model.save(tmp_path / "deeper" / "x" / "copy.fmsproj")
    raw2 = json.loads((tmp_path / "deeper" / "x" / "copy.fmsproj").read_text())
    assert raw2["fcs_files"][0] == "../../data/s0.fcs"
    assert model.resolve(model.data["fcs_files"][0]) == (tmp_path / "data" / "s0.fcs").resolve()


def test_failed_save_leaves_previous_file_intact(tmp_path, monkeypatch):
    model = _project_with_files(tmp_path)
    target = tmp_path / "p.fmsproj"
    model.save(target)
    before = target.read_bytes()
    model.update_section("analysis", {"trim": 0.9})

    def dying_replace(src, dst):
        raise OSError("killed during save")

    monkeypatch.setattr(pm.os, "replace", dying_replace)
    with pytest.raises(OSError):
        model.save()
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert ProjectModel.load(target).section("analysis") == {"trim": 0.5, "terms": ["Cell1", "Group"]}
    assert not [p for p in target.parent.iterdir() if ".tmp." in p.name]  # temp file removed
    assert model.dirty  # the user's change is still there, unsaved


def test_undo_redo_of_sections(qtbot):
    model = ProjectModel()
    seen = []
    model.changed.connect(seen.append)
    model.update_section("dafi", {"k": 100, "seed": 1}, undoable=True, text="DAFi settings")
    model.update_section("dafi", {"k": 50, "seed": 1}, undoable=True)
    assert model.section("dafi")["k"] == 50
    assert model.undo_stack.undoText() == "Change dafi"
    model.undo_stack.undo()
    assert model.section("dafi") == {"k": 100, "seed": 1}
    model.undo_stack.undo()
    assert model.section("dafi") == {}
    model.undo_stack.redo()
    assert model.section("dafi") == {"k": 100, "seed": 1}
    assert seen == ["dafi"] * 5
    copy_ = model.section("dafi")
    copy_["k"] = 7  # a copy: editing it does not change the project
    assert model.section("dafi")["k"] == 100
    with pytest.raises(KeyError):
        model.section("nope")
    with pytest.raises(TypeError):
        model.update_section("analysis", {"x": object()})


def test_runtime_attributes_emit(qtbot):
    model = ProjectModel()
    with qtbot.waitSignal(model.proportions_changed):
        model.proportions = "df"
    with qtbot.waitSignal(model.results_changed):
        model.fit = "fit"
    assert model.proportions == "df" and model.fit == "fit"


def test_autosave_and_recovery_after_crash(tmp_path, qtbot):
    model = _project_with_files(tmp_path)
    target = tmp_path / "p.fmsproj"
    model.save(target)
    assert model.autosave() is None  # nothing unsaved: no recovery file
    model.update_section("analysis", {"trim": 0.25})
    rec = model.autosave()
    assert rec == tmp_path / "p.fmsproj.recovery" and rec.is_file()
    os.utime(rec, ns=(target.stat().st_mtime_ns + 10**9,) * 2)
    # the process dies here (no clean shutdown); a new session finds the recovery file
    fresh = ProjectModel.load(target)
    assert fresh.section("analysis")["trim"] == 0.5
    assert fresh.pending_recovery() == rec
    fresh.recover()
    assert fresh.section("analysis") == {"trim": 0.25}
    assert fresh.dirty and fresh.path == target.resolve() and fresh.recovered_from == rec
    assert fresh.fcs_paths() == model.fcs_paths()
    fresh.save()
    assert not rec.exists() and fresh.pending_recovery() is None
    assert ProjectModel.load(target).section("analysis") == {"trim": 0.25}


def test_unsaved_project_recovers_from_user_data_dir(tmp_path, qtbot):
    model = ProjectModel()
    model.update_section("dafi", {"k": 64})
    rec = model.autosave()
    assert rec == tmp_path / "userdata" / "recovery" / "untitled.fmsproj.recovery"
    assert pm.pending_recovery(None) == rec
    other = ProjectModel()
    other.recover(rec)
    assert other.section("dafi") == {"k": 64} and other.path is None
    other.discard_recovery()
    assert pm.pending_recovery(None) is None


def test_timer_autosave(tmp_path, qtbot):
    model = ProjectModel()
    model.update_section("dafi", {"k": 3})
    model.start_autosave(20)
    qtbot.waitUntil(lambda: model.recovery_path().is_file(), timeout=3000)
    model.stop_autosave()
    assert json.loads(model.recovery_path().read_text())["dafi"] == {"k": 3}


# --------------------------------------------------------------------------- a real kill mid-save
_SAVER = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QCoreApplication
from gui import project_model as pm

app = QCoreApplication([])
target, mode, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
model = pm.ProjectModel.load(target)
if mode == "slow":  # widen the window between "temp file written" and the rename, then wait for the kill
    real_fsync = os.fsync
    def slow_fsync(fd):
        real_fsync(fd)
        print("WRITTEN", flush=True)
        import time
        time.sleep(60)
    pm.os.fsync = slow_fsync
i = model.section("results").get("version", 0)
while True:
    i += 1
    model.update_section("results", {"version": i, "blob": [i] * n})
    model.save()
    print(f"SAVED {i}", flush=True)
"""


def _start_saver(target: Path, mode: str, n: int):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.Popen([sys.executable, "-c", _SAVER, str(root), str(target), mode, str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _first_project(tmp_path: Path) -> tuple[Path, bytes]:
    model = _project_with_files(tmp_path)
    model.update_section("results", {"version": 0, "blob": []})
    target = model.save(tmp_path / "killed.fmsproj")
    return target, target.read_bytes()


def test_sigkill_after_temp_file_written_leaves_previous_file(tmp_path):
    """The process is killed (SIGKILL, no clean-up possible) with the new content in the temp file."""
    target, before = _first_project(tmp_path)
    proc = _start_saver(target, "slow", 200_000)
    try:
        line = proc.stdout.readline().strip()
        assert line == "WRITTEN", proc.stderr.read()
        temps = [p for p in tmp_path.iterdir() if ".tmp." in p.name]
        assert len(temps) == 1 and temps[0].stat().st_size > 1_000_000  # the new version is on disk
    finally:
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode != 0
    assert target.read_bytes() == before
    again = ProjectModel.load(target)
    assert again.section("results") == {"version": 0, "blob": []}
    assert again.fcs_paths() == [(tmp_path / "data" / f"s{i}.fcs").resolve() for i in range(3)]


def test_sigkill_at_a_random_moment_of_repeated_saves(tmp_path):
    """Saves of a large project in a loop, killed at an arbitrary moment while a temp file exists:
    the project file is always one complete version, the last one reported saved (or the one whose
    rename had just happened)."""
    import time

    target, _ = _first_project(tmp_path)
    proc = _start_saver(target, "loop", 400_000)
    saved = 0
    try:
        while saved < 3:  # let a few saves complete (each replaces the file)
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            saved = int(line.split()[1])
        deadline = time.monotonic() + 20
        while not any(".tmp." in p.name for p in tmp_path.iterdir()):  # a write is under way
            assert time.monotonic() < deadline, "no save in progress seen"
    finally:
        proc.kill()
        proc.wait(30)
    rest = proc.stdout.read().split()
    proc.stdout.close()
    proc.stderr.close()
    last = max([saved] + [int(v) for v in rest[1::2]])
    data = json.loads(target.read_text(encoding="utf-8"))  # parses: never a half-written file
    version = data["results"]["version"]
    assert version in (last, last + 1)
    assert data["results"]["blob"] == [version] * 400_000
    assert ProjectModel.load(target).section("results")["version"] == version


def test_results_are_saved_with_the_project_and_reopen(tmp_path, qtbot):
    """After a fit, Save writes the results beside the project (atomic, hash in the project);
    reopening shows them in the Results tab; a changed file is refused with a message, not shown."""
    from engine.fastmix import FastMix
    from engine.simulate import simulate_study
    from gui.results_tab import ResultsTab

    s = simulate_study(300, 24, seed=5)
    model = ProjectModel()
    model.fit = FastMix(permutations=20).fit(s.expression, s.proportions, s.covariates)
    target = model.save(tmp_path / "p.fmsproj")
    saved = ProjectModel.load(target).section("results")
    assert saved["file"] == "p.results.npz" and len(saved["sha256"]) == 64
    assert stat.S_IMODE((tmp_path / "p.results.npz").stat().st_mode) == file_mode()
    reopened = ProjectModel.load(target)
    tab = ResultsTab(reopened)
    qtbot.addWidget(tab)
    assert tab.results is not None and tab.results.terms == model.fit.results_.terms
    term = "Neutrophils.Group" if "Neutrophils.Group" in tab.results.terms else tab.results.terms[-1]
    tab.select_term(term)
    assert tab.table_model.rowCount() == 300
    pd.testing.assert_frame_equal(tab.results.to_frame(term), model.fit.results_.to_frame(term), check_dtype=False)
    data = bytearray((tmp_path / "p.results.npz").read_bytes())
    data[-20] ^= 0xFF
    (tmp_path / "p.results.npz").write_bytes(bytes(data))
    changed = ProjectModel.load(target)
    assert changed.fit is None and "changed after the project was saved" in changed.results_error
