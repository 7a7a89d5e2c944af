"""The gene-set library chooser: the bundled GO libraries, with the user's .gmt files listed beside them."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

BUNDLED = (("go-bp", "GO biological process (bundled)"),
           ("go-mf", "GO molecular function (bundled)"),
           ("go-cc", "GO cellular component (bundled)"))


class LibraryCombo(QComboBox):
    """A combo box of gene-set libraries; each item's data is what :func:`study.genesets.load_library`
    takes (``go-bp`` or a file path). ``text()``/``setText()`` read and choose by that value;
    choosing a new .gmt adds it to the list, after the bundled ones."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, objectName="gmtPathEdit")
        for key, label in BUNDLED:
            self.addItem(label, key)
        self.setToolTip("Gene sets for enrichment: the bundled Gene Ontology libraries, or a .gmt file added "
                        "with Browse… (listed here from then on)")

    def text(self) -> str:  # noqa: D401 - mirrors QLineEdit for callers
        """The chosen library: ``go-bp``, ``go-mf``, ``go-cc`` or a .gmt path."""
        value = self.currentData()
        return "" if value is None else str(value)

    def setText(self, spec: str) -> None:  # noqa: N802 - Qt naming
        """Choose ``spec`` (a bundled key or a path), adding a new file to the list."""
        spec = str(spec).strip()
        index = self.findData(spec)
        if index < 0 and spec:
            self.addItem(f"{Path(spec).name}  ({Path(spec).parent})", spec)
            index = self.count() - 1
            self.setItemData(index, spec, Qt.ItemDataRole.ToolTipRole)
        if index >= 0:
            self.setCurrentIndex(index)

    def user_files(self) -> list[str]:
        """The .gmt files the user added, in the order they were added."""
        keys = {k for k, _ in BUNDLED}
        return [str(self.itemData(i)) for i in range(self.count()) if self.itemData(i) not in keys]
