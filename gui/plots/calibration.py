"""Calibration plot: a term's observed calls against the calls permuted labels give.

For the k strongest genes of a term (k = 1, 2, 5, ... on a log axis), the curve shows k
itself (observed) and the mean number of genes whose statistic reaches the same
threshold under permuted covariate labels (expected from noise alone). Calls stand
above noise where the observed curve runs far above the permuted one.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class CalibrationWidget(QWidget):
    """Observed vs permuted-label calls for one term, with a plain sentence above."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sentence = QLabel("", objectName="calibrationSentence")
        self.sentence.setWordWrap(True)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLogMode(x=True, y=True)
        self.plot.setLabel("bottom", "genes called (the k strongest)")
        self.plot.setLabel("left", "genes at or above the threshold")
        self.plot.addLegend(offset=(10, 10))
        self.observed = self.plot.plot([], [], pen=pg.mkPen((200, 40, 40), width=2), symbol="o",
                                       symbolSize=5, symbolBrush=(200, 40, 40), name="observed")
        self.expected = self.plot.plot([], [], pen=pg.mkPen((60, 60, 60), width=2, style=Qt.PenStyle.DashLine), symbol="s",
                                       symbolSize=5, symbolBrush=(60, 60, 60), name="permuted labels (noise)")
        lay = QVBoxLayout(self)
        lay.addWidget(self.sentence)
        lay.addWidget(self.plot, 1)

    def set_curve(self, curve: dict | None, sentence: str) -> None:
        """Show ``curve`` (keys ``rank``, ``expected_null_at_or_above``) or clear it."""
        self.sentence.setText(sentence)
        if not curve:
            self.observed.setData([], [])
            self.expected.setData([], [])
            return
        k = np.asarray(curve["rank"], dtype=float)
        e = np.asarray(curve["expected_null_at_or_above"], dtype=float)
        floor = 0.01  # log axis: an expectation of 0 is drawn at 0.01
        self.observed.setData(k, k)
        self.expected.setData(k, np.maximum(e, floor))
