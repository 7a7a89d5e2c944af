"""Adding real FCS/LMD files as a lab has them: File > Add files…, the Gating tab's button, and drag and drop.

The files are read from the shared test data (never copied into the repository); every item that is
not added is listed with its reason.
"""
from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from gui import settings as st
from gui.main_window import MainWindow


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMIX_STUDIO_DATA", str(tmp_path / "userdata"))
    return tmp_path


@pytest.fixture
def win(qtbot, env):
    w = MainWindow(settings=st.make_settings(env / "settings.ini"), interactive=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.jobs.shutdown()


def _read(qtbot, win, names):
    qtbot.waitUntil(lambda: set(names) <= set(win.project.samples) and not win.jobs.is_running(), timeout=30000)


def _drop(widget, paths) -> tuple[bool, bool]:
    """Drag ``paths`` over ``widget`` and drop them there; (enter accepted, drop accepted)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPoint(widget.width() // 2, widget.height() // 2)
    enter = QDragEnterEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    drop = QDropEvent(pos, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_file_menu_adds_real_lmd_and_fcs_files_and_lists_what_it_leaves_out(qtbot, win, monkeypatch, shared_dir):
    fcs = shared_dir / "data" / "fcs"
    chosen = [fcs / "cytoflow-instruments" / "Beckman Coulter - Gallios.LMD", fcs / "cytoflow-instruments" / "iCyt - Eclipse.lmd",
              fcs / "flowcal" / "Data001.fcs", fcs / "README.md"]
    monkeypatch.setattr("gui.main_window.QFileDialog.getOpenFileNames", lambda *a, **k: ([str(p) for p in chosen], ""))
    win.act_add_fcs.trigger()
    assert "README.md: not an FCS or LMD file (.md)" in win.error_box.text()
    names = ["Beckman Coulter - Gallios", "iCyt - Eclipse", "Data001"]
    _read(qtbot, win, names)
    for n in names:
        sample = win.project.samples[n]
        assert not isinstance(sample, str), sample
        assert sample.event_count > 0
    tab = win.tab_widgets["Gating"]
    qtbot.waitUntil(lambda: tab.sample_model.ok_names() == names, timeout=10000)

    # choosing the same files again adds nothing and says why for each
    win.act_add_fcs.trigger()
    text = win.error_box.text() + "\n" + win.error_box.detailedText()
    for p in chosen[:3]:
        assert f"{p.name}: already in the project" in text
    assert "4 file(s) left out" in win.error_box.text()
    assert [p.name for p in win.project.fcs_paths()] == [p.name for p in chosen[:3]]


def test_files_and_folders_dropped_on_the_gating_tab(qtbot, win, env, shared_dir):
    instruments = shared_dir / "data" / "fcs" / "cytoflow-instruments"
    folder = env / "plate"
    folder.mkdir()
    (folder / "notes.txt").write_text("not cytometry")
    (folder / "Gallios.LMD").symlink_to(instruments / "Beckman Coulter - Gallios.LMD")  # a link, not a copy
    (folder / "Data002.fcs").symlink_to(shared_dir / "data" / "fcs" / "flowcal" / "Data002.fcs")
    other = env / "elsewhere"
    other.mkdir()
    (other / "Gallios.lmd").symlink_to(instruments / "Beckman Coulter - Gallios.LMD")
    tab = win.tab_widgets["Gating"]
    target = tab.sample_view.viewport()  # dropped over the (empty) sample list: the window takes it
    assert _drop(target, [folder, other / "Gallios.lmd", env / "missing.fcs"]) == (True, True)
    text = win.error_box.detailedText()
    assert sorted(text.splitlines()) == sorted([
        "notes.txt: not an FCS or LMD file (.txt)",
        f"Gallios.lmd: a sample named 'Gallios' is already listed (from {folder / 'Gallios.LMD'})",
        "missing.fcs: not found"])
    _read(qtbot, win, ["Gallios", "Data002"])
    assert win.project.samples["Gallios"].event_count > 0
    assert win.project.samples["Data002"].event_count > 0
    qtbot.waitUntil(lambda: sorted(tab.sample_model.ok_names()) == ["Data002", "Gallios"], timeout=10000)


def test_text_dragged_over_the_window_is_refused(qtbot, win):
    mime = QMimeData()
    mime.setText("just text")
    enter = QDragEnterEvent(QPoint(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(win.tabs, enter)
    assert not enter.isAccepted()
    assert win.project.fcs_paths() == []


def test_gating_tab_add_files_button(qtbot, gating_tab, monkeypatch, shared_dir):
    tab = gating_tab
    fcs = shared_dir / "data" / "fcs"
    chosen = [fcs / "cytoflow-instruments" / "System II listmode with extra info in bits D10-D15.LMD",
              fcs / "flowio" / "B01 KC-A-W---91-US_preprocessed_events.npy",
              tab.project.fcs_paths()[0]]
    monkeypatch.setattr(tab, "_ask_open_paths", lambda: [str(p) for p in chosen])
    qtbot.mouseClick(tab.add_files_button, Qt.LeftButton)
    assert sorted(tab.skipped_files) == ["B01 KC-A-W---91-US_preprocessed_events.npy: not an FCS or LMD file (.npy)",
                                         "donor1.fcs: already in the project"]
    assert tab.status.text().startswith("Added 1; 2 file(s) left out:")
    assert tab.skipped_box is not None and "donor1.fcs: already in the project" in tab.skipped_box.text()
    name = "System II listmode with extra info in bits D10-D15"
    qtbot.waitUntil(lambda: name in tab.sample_model.names() and not tab.jobs.is_running(), timeout=30000)
    qtbot.waitUntil(lambda: name in tab.sample_model.ok_names(), timeout=10000)
    tab.select_sample(name)
    assert tab.current_sample == name
    n = tab.project.samples[name].event_count
    assert n > 0 and tab.status.text().startswith(f"{name}: {n:,} events in")
