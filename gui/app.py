"""Start the Qt application."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="FastMixStudio")
    parser.add_argument("--demo", action="store_true", help="open the demo study")
    args, qt_args = parser.parse_known_args(argv)

    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    window = MainWindow()
    window.show()
    return app.exec()
