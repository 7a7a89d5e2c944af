"""The main window: tabs in pipeline order (Gating, Study, Analysis, Results)."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget

TAB_NAMES = ("Gating", "Study", "Analysis", "Results")


class MainWindow(QMainWindow):
    """Top-level window; each tab lives in its own module under ``gui/``."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("FastMix Studio")
        self.tabs = QTabWidget()
        for name in TAB_NAMES:
            self.tabs.addTab(QLabel(f"{name} workspace"), name)
        self.setCentralWidget(self.tabs)
        self.resize(1280, 800)
