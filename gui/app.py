"""Start the Qt application: ``python main.py [--demo] [--screenshot DIR] [project.fmsproj]``.

``--demo --screenshot DIR`` runs the whole demo pipeline without showing anything (Qt's offscreen
platform unless ``QT_QPA_PLATFORM`` is set), writes one PNG per tab into DIR and exits 0
(1 naming the failed step otherwise); see :mod:`gui.screenshot`.

The window is painted first and the four workspaces are built right after (their modules pull
in pandas/scipy/pyqtgraph). ``FASTMIX_STUDIO_STARTUP_PROBE=1`` makes the app print
``first-shown <epoch s>`` at the first paint and ``tabs-ready <epoch s>`` once the workspaces are
built, then quit (used by ``benchmarks/bench_startup.py``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def app_icon_path() -> Path | None:
    """``resources/icons/fastmix-studio.png`` beside the packages (also inside the PyInstaller bundle)."""
    path = Path(__file__).resolve().parents[1] / "resources" / "icons" / "fastmix-studio.png"
    return path if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="FastMixStudio")
    parser.add_argument("--demo", action="store_true", help="open the demo study (generated on first use)")
    parser.add_argument("--screenshot", metavar="DIR",
                        help="with --demo: run the demo pipeline offscreen, save one PNG per tab into DIR, exit")
    parser.add_argument("project", nargs="?", help="a .fmsproj project file to open")
    args, qt_args = parser.parse_known_args(argv)
    if args.screenshot and not args.demo:
        parser.error("--screenshot needs --demo (it runs the demo study's pipeline)")
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui import settings as st
    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setOrganizationName(st.ORGANISATION)
    app.setApplicationName(st.APPLICATION)
    icon = app_icon_path()
    if icon is not None:
        from PySide6.QtGui import QIcon

        app.setWindowIcon(QIcon(str(icon)))
    if args.screenshot:
        from gui.screenshot import main as screenshot_main

        return screenshot_main(args.screenshot)
    probe = os.environ.get("FASTMIX_STUDIO_STARTUP_PROBE") == "1"
    window = MainWindow(interactive=not probe, lazy_tabs=True)

    if probe:
        def _shown() -> None:
            window.repaint()  # make sure the first frame is painted before timing it
            print(f"first-shown {time.time():.6f}", flush=True)

        def _ready() -> None:
            window.repaint()
            print(f"tabs-ready {time.time():.6f}", flush=True)
            app.quit()

        window.first_shown.connect(_shown)
        window.tabs_ready.connect(_ready)

    window.show()

    def _open_initial() -> None:
        path = args.project
        if args.demo:
            window.open_demo()
            return
        if path:
            window.open_project(path)
        else:
            window.offer_recovery()  # autosave of an unsaved project from a crashed session

    if not probe:
        window.tabs_ready.connect(lambda: QTimer.singleShot(0, _open_initial))
    return app.exec()
