"""Qt smoke check of the self-test: the main window starts, opens a project, reads its FCS files
and paints. Run after :mod:`study.selftest`'s headless pipeline; in the bundle it proves that the
Qt platform plugins, pyqtgraph and the four workspaces were all packaged."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

__all__ = ["check_window"]

TAB_NAMES = ["Gating", "Study", "Analysis", "Results"]


def _ensure_platform() -> None:
    """Use the offscreen platform when there is no display (CI, a server, a headless bundle check)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def check_window(project_file: str | os.PathLike, png_path: str | os.PathLike, timeout_s: float = 120) -> str:
    """Open ``project_file`` in the main window, wait for its samples, save a screenshot; raise on failure."""
    _ensure_platform()
    from PySide6.QtWidgets import QApplication

    from gui import settings as st
    from gui.app import app_icon_path
    from gui.main_window import MainWindow
    from gui.screenshot import wait_until

    if app_icon_path() is None:
        raise RuntimeError("resources/icons/fastmix-studio.png is missing (resources not packaged?)")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory(prefix="fastmix-selftest-gui-") as tmp:
        win = MainWindow(settings=st.make_settings(Path(tmp) / "settings.ini"), interactive=False)
        try:
            win.resize(1280, 800)
            win.show()
            names = [win.tabs.tabText(i) for i in range(win.tabs.count())]
            if names != TAB_NAMES:
                raise RuntimeError(f"tabs are {names}, expected {TAB_NAMES}")
            if win.tab_errors:
                raise RuntimeError(f"workspaces failed to start: {win.tab_errors}")
            if not win.open_project(project_file):
                raise RuntimeError(f"could not open {project_file}: {win.last_error}")
            expected = len(win.project.fcs_paths())
            wait_until(lambda: not win.jobs.is_running() and len(win.project.samples) >= expected,
                       f"reading {expected} FCS files", timeout_s, win)
            bad = {k: v for k, v in win.project.samples.items() if isinstance(v, str)}
            if bad:
                raise RuntimeError(f"unreadable FCS files: {bad}")
            if win.last_error:
                raise RuntimeError(f"the window reported an error: {win.last_error}")
            app.processEvents()
            image = win.grab().toImage()
            if image.width() < 600 or image.height() < 400:
                raise RuntimeError(f"window painted at {image.width()}x{image.height()} only")
            colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 29)}
            if len(colours) < 8:
                raise RuntimeError("the window painted (almost) blank")
            if not image.save(str(png_path)):
                raise RuntimeError(f"could not write {png_path}")
            platform = app.platformName()
        finally:
            win.jobs.shutdown()
            win.project.stop_autosave()
            win.close()
            win.deleteLater()
            app.processEvents()
    return (f"Qt '{platform}': {len(TAB_NAMES)} workspaces, {expected} samples read, "
            f"window {image.width()}x{image.height()} painted ({Path(png_path).name})")
