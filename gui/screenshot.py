"""``python main.py --demo --screenshot DIR``: run the whole demo pipeline and save one PNG per tab.

The steps are those a person takes, through the same widgets and workers (nothing computed here):

1. open the demo study (generated on first use) and wait for its FCS files to be read;
2. Gating: show the first sample with its gates and counts, "Apply to all samples", and use the
   study's populations (``study.populations``) of the batch table as the cell proportions;
3. Study: the sheet, roles, expression and the three-way match;
4. Analysis: the stored choices, Run FastMix in its worker;
5. Results: the term with most hits, its top gene selected (volcano ring, per-gene view).

Each tab is grabbed from the main window (``QWidget.grab()``) into ``gating.png``, ``study.png``,
``analysis.png`` and ``results.png``; the batch table goes to ``gating_batch.png``.
:func:`run_pipeline` raises :class:`PipelineError` naming the step that failed.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

__all__ = ["PipelineError", "run_pipeline", "TAB_FILES", "WINDOW_SIZE"]

#: main-window tab -> PNG written for it
TAB_FILES = {"Gating": "gating.png", "Study": "study.png", "Analysis": "analysis.png", "Results": "results.png"}
#: size of the window the screenshots are taken of
WINDOW_SIZE = (1440, 900)


class PipelineError(RuntimeError):
    """A step of the scripted pipeline did not reach its goal; the message says which and why."""


def _pump(ms: int = 30) -> None:
    """Let the event loop run for ``ms`` (queued signals from workers, layouts, paints)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(condition, what: str, timeout: float, window=None) -> None:
    """Run the event loop until ``condition()`` is true; a worker failure or a timeout raises."""
    end = time.monotonic() + timeout
    while not condition():
        if window is not None and window.last_error:
            raise PipelineError(f"{what}: {window.last_error}")
        if time.monotonic() > end:
            raise PipelineError(f"{what}: not done after {timeout:.0f} s")
        _pump()


def _settle(window) -> None:
    """Finish layouts and paints before grabbing."""
    for _ in range(3):
        QApplication.processEvents()
        _pump(40)
    window.repaint()


def _grab(window, tab_name: str, folder: Path) -> Path:
    window.tabs.setCurrentWidget(window.tab_widgets[tab_name])
    _settle(window)
    path = folder / TAB_FILES[tab_name]
    if not window.grab().save(str(path), "PNG"):
        raise PipelineError(f"could not write {path}")
    return path


def _step_gating(window, study: dict, timeout: float) -> tuple[object, object]:
    gating = window.tab_widgets["Gating"]
    names = gating.sample_model.ok_names()
    if not names:
        raise PipelineError("Gating: no readable FCS file in the demo study")
    gating.select_sample(names[0])
    strategy = gating.strategy()
    wanted = [str(p) for p in study.get("populations", [])]
    # show the gates that define the study's cell types, with their counts, inside their parent
    target = next((p for p in wanted if p in strategy.gates), None)
    if target is not None:
        parent = strategy.gates[target].parent_id
        gating.select_population(parent)
        gating.tree_view.setCurrentIndex(gating.tree_model.index_of(parent))
    done: list = []
    gating.batch_finished.connect(done.append)
    gating.apply_button.click()
    wait_until(lambda: bool(done) and gating.batch_dialog is not None, "Gating: Apply to all", timeout, window)
    counts, errors = done[0]
    if errors:
        raise PipelineError(f"Gating: {len(errors)} sample(s) not gated: {next(iter(errors.values()))}")
    dialog = gating.batch_dialog
    pops = [p for p in dict.fromkeys(counts["population"]) if p in wanted or p.rsplit("/", 1)[-1] in wanted]
    if not pops:
        raise PipelineError(f"Gating: the study's populations {wanted} are not in the gating results")
    dialog.set_checked(pops)
    dialog.use_button.click()
    if window.project.proportions is None:
        raise PipelineError("Gating: the gated populations did not become the cell proportions")
    return gating, dialog


def run_pipeline(window, folder: str | os.PathLike, *, demo_folder: str | os.PathLike | None = None,
                 timeout: float = 300.0) -> list[Path]:
    """Drive ``window`` (a shown :class:`gui.main_window.MainWindow`) through the demo study.

    Returns the PNG files written into ``folder`` (tabs in pipeline order, then the batch table).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    window.load_tabs()
    window.resize(*WINDOW_SIZE)
    project = window.project

    # 1. open the demo study and read its FCS files (workers)
    window.open_demo(demo_folder)
    wait_until(lambda: project.path is not None and not window.jobs.is_running(), "Opening the demo study",
          timeout, window)
    fcs = project.fcs_paths()
    wait_until(lambda: all(p.stem in project.samples for p in fcs), "Reading the FCS files", timeout, window)
    study = project.section("study")

    # 2. Gating: gates with counts, apply to all, proportions
    gating, dialog = _step_gating(window, study, timeout)
    written = [_grab(window, "Gating", folder)]
    dialog.resize(1100, 520)
    dialog.show()
    _settle(dialog)
    batch = folder / "gating_batch.png"
    if not dialog.grab().save(str(batch), "PNG"):
        raise PipelineError(f"could not write {batch}")
    dialog.close()

    # 3. Study: sheet, roles, expression, match
    study_tab = window.tab_widgets["Study"]
    window.tabs.setCurrentWidget(study_tab)
    wait_until(lambda: not window.jobs.is_running(), "Study: reading the inputs", timeout, window)
    match = getattr(study_tab.inputs, "match", None)
    if match is None or not match.common:
        raise PipelineError(f"Study: no sample is in all inputs ({study_tab.match_label.text()})")
    if match.suggestions:
        study_tab.fix_button.click()
    written.append(_grab(window, "Study", folder))

    # 4. Analysis: run FastMix with the stored choices
    analysis = window.tab_widgets["Analysis"]
    window.tabs.setCurrentWidget(analysis)
    analysis.reload()
    if not analysis.run_button.isEnabled():
        raise PipelineError("Analysis: cannot run: " + "; ".join(i.text() for i in analysis.issues))
    fits: list = []
    analysis.fit_finished.connect(fits.append)
    analysis.run_button.click()
    wait_until(lambda: bool(fits) or analysis.last_error is not None, "Analysis: FastMix", timeout, window)
    if analysis.last_error:
        raise PipelineError(f"Analysis: FastMix failed: {analysis.last_error}")
    wait_until(lambda: not window.jobs.is_running(), "Analysis: finishing", timeout, window)
    written.append(_grab(window, "Analysis", folder))

    # 5. Results: the term with most hits, its top gene
    results = window.tab_widgets["Results"]
    res = fits[0].results_
    fdr = results.fdr_spin.value()
    hits = {t: res.calls(t, fdr) for t in res.terms}
    informative = [t for t in res.terms if "." in t and t in set(getattr(res, "informative_terms", []) or [])]
    term = max(informative or [t for t in res.terms if "." in t] or list(res.terms), key=lambda t: hits[t])
    window.tabs.setCurrentWidget(results)
    results.select_term(term)
    results.plots.setCurrentWidget(results.volcano)
    results.select_gene(str(res.genes_at(res.ranking(term)[:1])[0]))
    written.append(_grab(window, "Results", folder))
    written.append(batch)
    return written


def main(folder: str | os.PathLike, *, demo_folder: str | os.PathLike | None = None) -> int:
    """Entry point used by :func:`gui.app.main` for ``--screenshot DIR``; returns the exit code."""
    import sys
    import tempfile

    from gui import settings as st
    from gui.main_window import MainWindow

    with tempfile.TemporaryDirectory(prefix="fastmix-shots-") as tmp:
        # a throw-away settings store: the run must not change the user's recent files or geometry
        window = MainWindow(settings=st.make_settings(Path(tmp) / "settings.ini"), interactive=False)
        window.show()
        try:
            written = run_pipeline(window, folder, demo_folder=demo_folder)
        except PipelineError as exc:
            print(f"screenshot run failed: {exc}", file=sys.stderr, flush=True)
            return 1
        finally:
            window.jobs.shutdown()
            window.close()
            window.deleteLater()
            QApplication.processEvents()
    for path in written:
        print(path, flush=True)
    return 0
