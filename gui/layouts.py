"""Small layout helpers shared by the tabs."""
from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

__all__ = ["titled_box"]


def titled_box(title: str, buttons: list[QWidget], below: list[QWidget]) -> QGroupBox:
    """A titled box: a row of controls, then the labels below it."""
    box = QGroupBox(title)
    lay = QVBoxLayout(box)
    row = QHBoxLayout()
    for w in buttons:
        row.addWidget(w)
    row.addStretch(1)
    lay.addLayout(row)
    for w in below:
        lay.addWidget(w)
    lay.addStretch(1)
    return box
