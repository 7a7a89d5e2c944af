"""The shell driven as a person would: menus, Save As / reopen, recent files, errors, recovery."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QLabel

from engine.progress import report
from gui import project_model as pm
from gui import settings as st
from gui.main_window import MainWindow
from gui.workers import Worker


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMIX_STUDIO_DATA", str(tmp_path / "userdata"))
    return tmp_path


def _window(qtbot, env, **kw) -> MainWindow:
    win = MainWindow(settings=st.make_settings(env / "settings.ini"), interactive=False, **kw)
    qtbot.addWidget(win)
    return win


def _write_fcs(path: Path, n: int = 500, seed: int = 0) -> np.ndarray:
    import flowio

    rng = np.random.default_rng(seed)
    events = rng.normal(1000, 100, size=(n, 3)).astype(np.float32)
    with open(path, "wb") as fh:
        flowio.create_fcs(fh, events.ravel(), ["FSC-A", "SSC-A", "FL1-A"], opt_channel_names=["", "", "CD3"])
    return events


def _menu_texts(menu) -> list[str]:
    return [a.text().replace("&", "") for a in menu.actions() if not a.isSeparator()]


def test_tabs_menus_and_about(qtbot, env):
    win = _window(qtbot, env)
    assert [win.tabs.tabText(i) for i in range(win.tabs.count())] == ["Gating", "Study", "Analysis", "Results"]
    assert [m.title().replace("&", "") for m in (win.file_menu, win.edit_menu, win.help_menu)] == ["File", "Edit", "Help"]
    file_items = _menu_texts(win.file_menu)
    for item in ("New project", "Open project…", "Open Recent", "Save", "Save As…", "Import FCS folder…",
                 "Import Gating-ML / FlowJo workspace…", "Export Gating-ML…", "Quit"):
        assert item in file_items
    assert _menu_texts(win.edit_menu)[:2] == ["Undo", "Redo"]
    win.act_about.trigger()
    text = win.about_dialog.text()
    import re

    import numpy
    import pandas

    assert re.search(rf"numpy\s+{re.escape(numpy.__version__)}", text)
    assert pandas.__version__ in text and "PySide6-Essentials" in text
    assert "generated on this computer by FastMix Studio's own simulators" in text
    assert win.about_dialog.isVisible()


def test_import_save_as_reopen_and_recent(qtbot, env, monkeypatch):
    fcs_dir = env / "fcs"
    fcs_dir.mkdir()
    truth = _write_fcs(fcs_dir / "A01.fcs")
    _write_fcs(fcs_dir / "B02.FCS", seed=1)
    (fcs_dir / "broken.fcs").write_bytes(b"not an fcs file at all")
    (fcs_dir / "notes.txt").write_text("ignored")

    win = _window(qtbot, env)
    win.show()
    monkeypatch.setattr(win, "_ask_directory", lambda title: str(fcs_dir))
    shown = []
    win.jobs.job_started.connect(lambda label: shown.append((label, win.jobs.widget.isVisible())))
    with qtbot.waitSignal(win.project.samples_changed, timeout=15000):
        win.act_import_fcs.trigger()
    assert shown == [("Reading 3 FCS files", True)]  # status-bar progress shown while reading
    qtbot.waitUntil(lambda: not win.jobs.is_running(), timeout=15000)
    assert win.jobs.widget.isHidden()
    samples = win.project.samples
    assert sorted(samples) == ["A01", "B02", "broken"]
    np.testing.assert_allclose(samples["A01"].events, truth, rtol=1e-6)
    assert isinstance(samples["broken"], str) and "broken.fcs" in samples["broken"]
    assert win.error_box is not None and "could not be read" in win.error_box.text()
    assert win.windowTitle().startswith("Untitled*")

    target = env / "projects" / "my study.fmsproj"
    target.parent.mkdir()
    monkeypatch.setattr(win, "_ask_save_path", lambda *a: str(target.with_suffix("")))  # suffix added
    win.act_save_as.trigger()
    raw = json.loads(target.read_text(encoding="utf-8"))
    assert raw["format"] == "fastmix-studio-project" and raw["version"] == 1
    assert raw["fcs_files"] == ["../fcs/A01.fcs", "../fcs/B02.FCS", "../fcs/broken.fcs"]
    assert win.windowTitle().startswith("my study —")
    assert _menu_texts(win.recent_menu) == [str(target.resolve())]

    # a second window (a new session) reopens it from the Recent menu
    win2 = _window(qtbot, env)
    assert _menu_texts(win2.recent_menu) == [str(target.resolve())]
    win2.recent_menu.actions()[0].trigger()
    qtbot.waitUntil(lambda: sorted(win2.project.samples) == ["A01", "B02", "broken"], timeout=15000)
    assert win2.project.data == win.project.data
    assert win2.project.fcs_paths() == [(fcs_dir / n).resolve() for n in ("A01.fcs", "B02.FCS", "broken.fcs")]
    qtbot.waitUntil(lambda: not win2.jobs.is_running(), timeout=15000)
    np.testing.assert_allclose(win2.project.samples["A01"].events, truth, rtol=1e-6)


def test_failed_save_keeps_file_and_work(qtbot, env, monkeypatch):
    win = _window(qtbot, env)
    target = env / "p.fmsproj"
    win.project.update_section("analysis", {"trim": 0.5})
    assert win.save_project_as(target)
    before = target.read_bytes()
    win.project.update_section("analysis", {"trim": 0.8})

    def killed(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pm.os, "replace", killed)
    win.act_save.trigger()
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert "Could not save the project" in win.error_box.text() and "No space left" in win.error_box.text()
    assert win.project.dirty and win.project.section("analysis") == {"trim": 0.8}
    assert pm.ProjectModel.load(target).section("analysis") == {"trim": 0.5}
    assert [p.name for p in env.iterdir() if p.name.endswith(".tmp")] == []


def test_recovery_offered_after_crash(qtbot, env):
    win = _window(qtbot, env)
    target = env / "crash.fmsproj"
    win.project.update_section("dafi", {"k": 100, "seed": 0})
    win.save_project_as(target)
    win.project.update_section("dafi", {"k": 42, "seed": 0}, undoable=True)
    rec = win.project.autosave()
    assert rec is not None and rec.is_file()
    import os

    os.utime(rec, ns=(target.stat().st_mtime_ns + 10**9,) * 2)
    # "crash": the first window is never closed cleanly; a new session opens the project
    win2 = _window(qtbot, env)
    assert win2.open_project(target)
    assert win2.project.section("dafi")["k"] == 100
    assert win2.pending_recovery() == rec
    assert win2.offer_recovery(accept=True)
    assert win2.project.section("dafi") == {"k": 42, "seed": 0}
    assert win2.project.dirty and win2.windowTitle().startswith("crash*")
    win2.act_save.trigger()
    assert win2.pending_recovery() is None
    assert pm.ProjectModel.load(target).section("dafi")["k"] == 42


def test_declining_recovery_deletes_it_and_bad_project_shows_error(qtbot, env):
    win = _window(qtbot, env)
    win.project.update_section("study", {"sheet_path": str(env / "s.csv")})
    rec = win.project.autosave()
    win2 = _window(qtbot, env)
    assert win2.pending_recovery() == rec
    assert not win2.offer_recovery(accept=False)
    assert not rec.exists()
    bad = env / "bad.fmsproj"
    bad.write_text('{"format": "fastmix-studio-project", "version": 7}')
    assert not win2.open_project(bad)
    assert "bad.fmsproj" in win2.error_box.text() and "newer FastMix Studio" in win2.error_box.text()
    assert win2.project.path is None


def test_undo_redo_menu_and_worker_failure_dialog(qtbot, env):
    win = _window(qtbot, env)
    win.show()
    win.project.update_section("analysis", {"trim": 0.3}, undoable=True, text="Set trim")
    assert win.act_undo.isEnabled() and "Set trim" in win.act_undo.text()
    win.act_undo.trigger()
    assert win.project.section("analysis") == {}
    win.act_redo.trigger()
    assert win.project.section("analysis") == {"trim": 0.3}

    def bad(*, progress=None):
        report(progress, 1, 2, "half way")
        raise ValueError("expression.csv has no gene column")

    with qtbot.waitSignal(win.jobs.job_finished, timeout=5000):
        win.jobs.start(Worker(bad), "Fit FastMix")
    assert win.error_box.isVisible()
    assert win.error_box.text() == "Fit FastMix failed: ValueError: expression.csv has no gene column"
    assert win.project.section("analysis") == {"trim": 0.3}  # work kept
    assert win.jobs.widget.isHidden()


def test_geometry_remembered_and_screenshot(qtbot, env):
    win = _window(qtbot, env)
    win.resize(900, 700)
    win.show()
    qtbot.waitExposed(win)
    size = (win.width(), win.height())
    assert size[1] == 700
    shot = env / "main_window.png"
    assert win.grab().save(str(shot)) and shot.stat().st_size > 5000
    win.close()
    win2 = _window(qtbot, env)
    assert win2.height() == size[1]  # default would be 800 (the offscreen screen clamps the width)
    for name, w in win2.tab_widgets.items():
        if isinstance(w, QLabel):
            assert name in w.text()


def test_help_menu_opens_demo_study(qtbot, env):
    win = _window(qtbot, env)
    win.resize(1280, 800)
    win.show()
    win.act_demo.trigger()
    qtbot.waitUntil(lambda: win.project.path is not None, timeout=60000)
    qtbot.waitUntil(lambda: not win.jobs.is_running(), timeout=60000)
    assert win.project.path == (env / "userdata" / "demo" / "demo.fmsproj").resolve()
    assert len(win.project.fcs_paths()) == 24 and all(p.is_file() for p in win.project.fcs_paths())
    assert win.project.strategy is not None and "Neutrophils" in win.project.strategy.gates
    qtbot.waitUntil(lambda: len(win.project.samples) == 24, timeout=60000)
    assert not any(isinstance(s, str) for s in win.project.samples.values())
    assert win.last_error is None and win.windowTitle().startswith("demo —")
    shot = env / "demo_window.png"
    assert win.grab().save(str(shot))
    import os

    if os.environ.get("FASTMIX_SHOT_DIR"):  # for looking at it by eye
        win.grab().save(os.path.join(os.environ["FASTMIX_SHOT_DIR"], "demo_window.png"))


def test_lazy_tabs_paint_first_then_build(qtbot, env):
    win = _window(qtbot, env, lazy_tabs=True)
    assert all(isinstance(w, QLabel) and "Loading" in w.text() for w in win.tab_widgets.values())
    with qtbot.waitSignals([win.first_shown, win.tabs_ready], order="strict", timeout=30000):
        win.show()
    assert [win.tabs.tabText(i) for i in range(win.tabs.count())] == ["Gating", "Study", "Analysis", "Results"]
    assert not any(isinstance(w, QLabel) and "Loading" in w.text() for w in win.tab_widgets.values())
    assert [win.tabs.widget(i) for i in range(4)] == list(win.tab_widgets.values())


def test_import_and_export_gates_through_the_file_menu(qtbot, env, monkeypatch, shared_dir):
    from gating.gatingml import read_gatingml, write_gatingml
    from gating.simulate import whole_blood_template

    template = whole_blood_template()
    src = env / "template.xml"
    write_gatingml(template, src)
    win = _window(qtbot, env)
    monkeypatch.setattr(win, "_ask_open_path", lambda *a: str(src))
    win.act_import_gates.trigger()
    assert win.last_error is None
    assert set(win.project.strategy.gates) == set(template.gates)
    assert win.project.section("strategy") == win.project.strategy.to_dict()
    assert win.project.strategy.gates["Neutrophils"] == template.gates["Neutrophils"]
    # undo brings back the empty strategy, redo the imported one
    assert "Import gates from template.xml" in win.act_undo.text()
    win.act_undo.trigger()
    assert win.project.strategy is None and win.project.section("strategy") == {}
    win.act_redo.trigger()
    assert set(win.project.strategy.gates) == set(template.gates)

    out = env / "exported.xml"
    monkeypatch.setattr(win, "_ask_save_path", lambda *a: str(out))
    win.act_export_gates.trigger()
    assert win.last_error is None
    back = read_gatingml(out)
    assert back.gates == win.project.strategy.gates

    # a FlowJo workspace from the shared reference data
    wsp = shared_dir / "data" / "fcs" / "flowkit" / "simple_poly_and_rect.wsp"
    monkeypatch.setattr(win, "_ask_open_path", lambda *a: str(wsp))
    win.act_import_gates.trigger()
    assert win.last_error is None and len(win.project.strategy.gates) >= 1
    assert set(win.project.section("strategy")) == set(win.project.strategy.to_dict())

    # a broken file: one-line error naming it, strategy kept
    bad = env / "broken.xml"
    bad.write_text("<gating:Gating-ML")
    before = win.project.section("strategy")
    monkeypatch.setattr(win, "_ask_open_path", lambda *a: str(bad))
    win.act_import_gates.trigger()
    assert "broken.xml" in win.error_box.text() and "\n" not in win.error_box.text()
    assert win.project.section("strategy") == before


def test_export_without_gates_explains(qtbot, env):
    win = _window(qtbot, env)
    win.act_export_gates.trigger()
    assert "no gates to export" in win.error_box.text()


def test_app_icon_is_found_and_loads(qtbot):
    from PySide6.QtGui import QIcon

    from gui.app import app_icon_path

    path = app_icon_path()
    assert path is not None and path.name == "fastmix-studio.png"
    icon = QIcon(str(path))
    assert not icon.isNull() and icon.pixmap(32, 32).width() == 32


def test_flowjo9_xml_workspace_imports_through_the_file_menu(qtbot, env, monkeypatch, shared_dir):
    """A FlowJo 9 workspace saved as .xml is recognised by content, not sent to the Gating-ML reader."""
    win = _window(qtbot, env)
    wsp = shared_dir / "data" / "fcs" / "flowworkspacedata" / "A2004Analysis.xml"
    monkeypatch.setattr(win, "_ask_open_path", lambda *a: str(wsp))
    win.act_import_gates.trigger()
    assert win.last_error is None
    st = win.project.strategy
    assert st is not None and "Import gates from A2004Analysis.xml" in win.act_undo.text()
    assert st.path("Live") == "Live" and any(st.path(p) == "Live/APC/pDC" for p in st.population_ids())
    assert win.project.section("strategy") == st.to_dict()
    # with the A2 file in the project, the gates of that workspace sample are taken (first sample is A1)
    from gating.flowjo import read_wsp

    win.project.add_fcs_files([wsp.parent / "a2004_O1T2pb05i_A2_A02.fcs"])
    calls = []
    monkeypatch.setattr("gating.templates.load_template",
                        lambda p, name=None, **kw: calls.append(name) or read_wsp(p, name))
    win.act_import_gates.trigger()
    assert win.last_error is None and calls == ["a2004_O1T2pb05i_A2_A02.fcs"]


def test_add_files_and_drop_list_every_file_left_out(qtbot, env, monkeypatch, shared_dir):
    """'Add FCS files…' takes .fcs and .lmd files (a real Beckman Coulter LMD among them); files
    dropped on the window are added the same way; every other file is listed with its reason."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    lmd = shared_dir / "data" / "fcs" / "flowio" / "coulter.lmd"
    (env / "drop").mkdir()
    _write_fcs(env / "drop" / "C03.fcs")
    (env / "drop" / "plate layout.xlsx").write_bytes(b"PK")
    win = _window(qtbot, env)
    win.show()
    monkeypatch.setattr("gui.main_window.QFileDialog.getOpenFileNames",
                        lambda *a, **k: ([str(lmd), str(env / "drop" / "plate layout.xlsx")], ""))
    with qtbot.waitSignal(win.project.samples_changed, timeout=15000):
        win.act_add_fcs.trigger()
    assert [p.name for p in win.project.fcs_paths()] == ["coulter.lmd"]
    assert "plate layout.xlsx: not an FCS or LMD file (.xlsx)" in win.error_box.text()
    qtbot.waitUntil(lambda: not win.jobs.is_running(), timeout=15000)
    assert not isinstance(win.project.samples["coulter"], str)  # the LMD file was read

    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(env / "drop"))])  # a folder: its FCS files
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(win.project.samples_changed, timeout=15000):
        win.dropEvent(drop)
    assert [p.name for p in win.project.fcs_paths()] == ["coulter.lmd", "C03.fcs"]
    assert "plate layout.xlsx" in win.error_box.text()
    qtbot.waitUntil(lambda: not win.jobs.is_running(), timeout=15000)
