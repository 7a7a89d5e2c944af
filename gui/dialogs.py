"""Small dialogs of the shell: error message, About (versions, licences), recovery prompt.

All of them are opened with ``open()`` (window-modal, non-blocking) so that tests and the event
loop keep running; ``ask_recovery`` is the one blocking question, used only interactively.
"""
from __future__ import annotations

import platform
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

APP_NAME = "FastMix Studio"
FALLBACK_VERSION = "0.1.0"

#: libraries whose versions About lists (distribution name, import name)
LIBRARIES = (
    ("PySide6-Essentials", "PySide6"), ("numpy", "numpy"), ("scipy", "scipy"), ("pandas", "pandas"),
    ("pyqtgraph", "pyqtgraph"), ("flowio", "flowio"), ("flowutils", "flowutils"),
    ("scikit-learn", "sklearn"), ("openpyxl", "openpyxl"), ("blitzgsea", "blitzgsea"),
)

DATA_LICENCES = (
    "Demo study: generated on this computer by FastMix Studio's own simulators "
    "(gating.simulate for the FCS files, engine.simulate for the expression matrix); "
    "it contains no real patient or donor data and is free to use and share (MIT, like the app).",
    "Bundled icons and gating templates: part of FastMix Studio (MIT).",
    "Bundled GO gene sets (resources/genesets): Gene Ontology annotations, CC BY 4.0 (Gene Ontology "
    "Consortium, release 2022-07-01), built from the Bioconductor packages org.Hs.eg.db and GO.db "
    "(Artistic-2.0).",
)


def app_version() -> str:
    """The installed version of FastMix Studio (pyproject version when run from a checkout)."""
    from importlib import metadata

    try:
        return metadata.version("fastmix-studio")
    except metadata.PackageNotFoundError:
        pass
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    try:
        import tomllib

        with open(pyproject, "rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return FALLBACK_VERSION


def library_versions() -> dict[str, str]:
    """Version of each library the app runs on (from package metadata; no heavy imports)."""
    from importlib import metadata

    out = {"Python": platform.python_version()}
    for dist, module in LIBRARIES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            try:  # frozen bundles may lack metadata: fall back to the module attribute
                mod = __import__(module)
                out[dist] = str(getattr(mod, "__version__", "unknown"))
            except ImportError:
                out[dist] = "not installed"
    try:
        from PySide6 import QtCore

        out["Qt"] = QtCore.qVersion()
    except ImportError:  # pragma: no cover
        pass
    return out


def about_html() -> str:
    rows = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in library_versions().items())
    lic = "".join(f"<li>{t}</li>" for t in DATA_LICENCES)
    return (
        f"<h2>{APP_NAME} {app_version()}</h2>"
        "<p>Offline flow-cytometry gating and DAFi to cell proportions, then FastMix "
        "cell type-specific differential expression. Licence: MIT.</p>"
        f"<h3>Libraries</h3><table>{rows}</table>"
        f"<h3>Bundled data</h3><ul>{lic}</ul>"
    )


class AboutDialog(QDialog):
    """App and library versions, and the licences of bundled data."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(about_html())
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.browser)
        lay.addWidget(buttons)
        self.resize(520, 520)

    def text(self) -> str:
        return self.browser.toPlainText()


def show_error(parent: QWidget | None, message: str, *, title: str = APP_NAME, details: str | None = None) -> QMessageBox:
    """Open (non-blocking) a warning box with the one-line message; returns it."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Warning)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.Ok)
    box.setAttribute(Qt.WA_DeleteOnClose)
    box.open()
    return box


def show_fix(parent: QWidget, title: str, exc: BaseException | str, fix: str | None = None) -> QMessageBox:
    """A window-modal, non-blocking warning naming the problem and, below it, how to fix it
    (``fix`` or the error's own ``hint``)."""
    hint = fix or getattr(exc, "hint", None)
    box = QMessageBox(QMessageBox.Icon.Warning, title, str(exc), QMessageBox.StandardButton.Ok, parent)
    if hint:
        box.setInformativeText(f"How to fix: {hint}")
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.open()
    return box


def ask_date_ids(parent: QWidget, dates, on_choice) -> QMessageBox:
    """Non-blocking question about gene IDs Excel turned into dates; ``on_choice`` gets "restore",
    "allow" or None (decide later)."""
    shown = ", ".join(dates[:8]) + (f" … (+{len(dates) - 8})" if len(dates) > 8 else "")
    box = QMessageBox(QMessageBox.Icon.Warning, "Gene IDs that look like dates",
                      f"{len(dates)} gene ID(s) in the expression matrix look like dates Excel made from gene "
                      f"symbols: {shown}.", QMessageBox.StandardButton.NoButton, parent)
    box.setInformativeText("Restore symbols: SEPT9, MARCH5, DEC1 … come back where the date maps to one "
                           "symbol. Keep as they are: the IDs are used unchanged. FastMix will not run until "
                           "you choose.")
    choices = {box.addButton("Restore symbols", QMessageBox.ButtonRole.AcceptRole): "restore",
               box.addButton("Keep as they are", QMessageBox.ButtonRole.ActionRole): "allow"}
    box.addButton("Decide later", QMessageBox.ButtonRole.RejectRole)
    box.buttonClicked.connect(lambda button: on_choice(choices.get(button)))
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.open()
    return box


class ColumnChoiceDialog(QDialog):
    """Tick columns (e.g. the cell types of a blood count); ``on_accept(chosen)`` runs on OK."""

    def __init__(self, parent: QWidget, columns: list[str], message: str, on_accept) -> None:
        super().__init__(parent)
        self.setWindowTitle("Choose the cell-type columns")
        self.list = QListWidget()
        for name in columns:
            item = QListWidgetItem(name, self.list)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
        label = QLabel(message)
        label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.accepted.connect(lambda: on_accept(self.chosen()))
        lay = QVBoxLayout(self)
        lay.addWidget(label)
        lay.addWidget(self.list)
        lay.addWidget(buttons)
        self.buttons = buttons

    def chosen(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, name: str, on: bool) -> None:
        item = self.list.findItems(name, Qt.MatchFlag.MatchExactly)[0]
        item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)


def recovery_message(recovery_file: Path, project: Path | None) -> str:
    what = f"the project {project.name}" if project is not None else "an unsaved project"
    return (f"FastMix Studio did not close cleanly. Autosaved changes to {what} were found "
            f"({recovery_file.name}).\n\nRestore them?")


def ask_recovery(parent: QWidget | None, recovery_file: Path, project: Path | None) -> bool:
    """Blocking Yes/No question (interactive start only)."""
    answer = QMessageBox.question(parent, "Recover unsaved work", recovery_message(recovery_file, project),
                                  QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
    return answer == QMessageBox.Yes


def ask_discard(parent: QWidget | None, name: str) -> QMessageBox.StandardButton:
    """Save / Discard / Cancel before closing a project with unsaved changes (blocking)."""
    return QMessageBox.question(parent, "Unsaved changes", f"Save the changes to {name}?",
                                QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)


__all__ = ["AboutDialog", "show_error", "ask_recovery", "ask_discard", "app_version", "library_versions",
           "about_html", "recovery_message"]
