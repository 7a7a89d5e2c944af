"""The Gating tab: samples, density plot with editable gates, population tree, DAFi, batch.

All edits of the gate tree go through ``project.update_section('strategy', ..., undoable=True)``
(after setting ``project.strategy`` to the edited copy), so every change is undoable and the
tab simply redraws when the project reports ``changed('strategy')``.

The tab binds widgets to a Qt-free :class:`study.gating_session.GatingSession` (current sample and
population, axes, gating result, per-sample strategies); its widgets are built in
:mod:`gui.gating.layout`, edits live in :mod:`gui.gating.edits` and jobs in :mod:`gui.gating.jobs`.
Per-sample gate overrides from auto-tune and the DAFi settings are the ``dafi`` section
(:class:`study.gating_settings.DafiSettings`).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QWidget

from gui.gating.edits import GateEditsMixin
from gui.gating.jobs import GatingJobsMixin
from gui.gating.layout import TOOL_LABELS, build_ui, fit_population_pane
from gui.plots.decades import decade_ticks
from gui.plots.gate_items import GateItem
from gui.workers import Worker
from study.gating_session import TRANSFORM_KINDS, GatingSession, population_parents, transform_ref

__all__ = ["GatingTab", "TOOL_LABELS", "TRANSFORM_KINDS"]


class _FromSession:
    """An attribute of the tab that lives on its Qt-free :class:`study.gating_session.GatingSession`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj, objtype=None):
        return self if obj is None else getattr(obj.session, self.name)

    def __set__(self, obj, value) -> None:
        setattr(obj.session, self.name, value)


class GatingTab(GateEditsMixin, GatingJobsMixin, QWidget):
    """Gating workspace. Construct with the shell's ``ProjectModel`` and ``JobRunner``."""

    refreshed = Signal()                 # after the plot and tree were redrawn
    dafi_refined = Signal(object)        # fitted DafiRefiner
    batch_finished = Signal(object)      # (counts DataFrame, errors dict)
    autotune_finished = Signal(object)   # dict sample -> TuneResult | error str

    def __init__(self, project, jobs, parent=None) -> None:
        super().__init__(parent)
        self.project = project
        self.jobs = jobs
        self.session = GatingSession(project)
        self.batch_ = None                        # (counts, errors) of the last Apply to all
        self.autotune_ = None
        self.gate_items: dict[str, GateItem] = {}
        self._workers: list[Worker] = []
        self.batch_dialog = None
        self._n_gates = 0
        self.skipped_files: list[str] = []
        self.skipped_box = None
        build_ui(self)
        project.changed.connect(self._on_project_changed)
        if hasattr(project, "samples_changed"):
            project.samples_changed.connect(self._show_samples)
        self.reload_samples()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        fit_population_pane(self)  # sizes are known once shown

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        fit_population_pane(self)

    # ================================================================ session state
    #: The sample shown and the population selected: state of the session, read and set here.
    current_sample = _FromSession()
    current_population = _FromSession()

    @property
    def result_(self):
        """``GatingResult`` of the current sample (``None`` before gating)."""
        return self.session.result

    def strategy(self):
        return self.session.strategy()

    def _strategy_for(self, name: str):
        """The strategy with this sample's accepted auto-tune overrides."""
        return self.session.strategy_for(name)

    def sample(self):
        return self.session.sample()

    def count(self, pid: str) -> tuple[int, int]:
        """(count, parent count) of a population in the current sample."""
        return self.session.count(pid)

    def gate_label(self, gate) -> str:
        """Name, count and % of parent of a gate (each quadrant on its own line)."""
        return self.session.gate_label(gate)

    # ================================================================ samples
    def reload_samples(self) -> None:
        """List the project's FCS files and read the unread ones in a worker (never on this thread).

        A file being read shows as "reading…"; one that cannot be read shows its error inline.
        """
        from gui.samples import read_missing_samples
        read_missing_samples(self.project, self.jobs)
        self._show_samples()

    def _ask_open_paths(self) -> list[str]:
        from PySide6.QtWidgets import QFileDialog

        from gui.samples import FCS_FILTER
        paths, _ = QFileDialog.getOpenFileNames(self, "Add FCS files", "", FCS_FILTER)
        return list(paths)

    def add_files(self, paths=None) -> list[Path]:
        """Add FCS/LMD files (or the ones in folders) to the project; the list reads them in a worker.

        Every file left out is listed with its reason in a box and the status line."""
        from gui import dialogs
        from gui.samples import fcs_files_to_add, skipped_message

        if paths is None:
            paths = self._ask_open_paths()
            if not paths:
                return []
        added, skipped = fcs_files_to_add(self.project, paths)
        self.skipped_files = [f"{name}: {why}" for name, why in skipped.items()]
        self.skipped_box = None
        if added:
            self.project.add_fcs_files(added)
        if skipped:
            message, details = skipped_message(skipped)
            self.status.setText(f"Added {len(added)}; " + message.replace("\n", "  "))
            self.skipped_box = dialogs.show_error(self, message, details=details)
        return added

    def _show_samples(self) -> None:
        paths = self.project.fcs_paths() if hasattr(self.project, "fcs_paths") else []
        samples = self.session.listed_samples(Path(p).stem for p in paths)  # None: not read (yet)
        self.session.clear_cache()
        busy = getattr(self.project, "sample_reader", None) is not None  # unread files are next in line
        self.sample_model.set_samples(samples, reading={n for n, v in samples.items() if v is None} if busy else ())
        ok = self.sample_model.ok_names()
        if self.current_sample in ok:
            self._set_current_row(self.sample_view, self.sample_model.index(self.sample_model.row_of(self.current_sample)))
        else:
            self.current_sample = None
            if ok:
                self.select_sample(ok[0])
                self.select_population(self.current_population)  # axes follow the first gate
            else:
                self.refresh()

    @staticmethod
    def _set_current_row(view, index) -> None:
        """Select ``index`` in ``view`` without reacting to it."""
        view.selectionModel().blockSignals(True)
        view.setCurrentIndex(index)
        view.selectionModel().blockSignals(False)

    def select_sample(self, name: str) -> None:
        row = self.sample_model.row_of(name)
        if row >= 0:
            self.sample_view.setCurrentIndex(self.sample_model.index(row))
            if self.current_sample != name:  # selection signal may not fire if unchanged
                self._set_sample(name)

    def _on_sample_selected(self, current, _previous=None) -> None:
        name = self.sample_model.name_at(current.row()) if current.isValid() else None
        if name and name in self.sample_model.ok_names():
            self._set_sample(name)

    def _set_sample(self, name: str) -> None:
        self.current_sample = name
        self._forget_dafi()
        s = self.sample()
        chans = [s.label(i) for i in range(len(s.channels))] if s is not None else []
        for combo, default in ((self.x_channel, 0), (self.y_channel, min(1, len(chans) - 1))):
            keep = combo.currentData()
            combo.blockSignals(True)
            combo.clear()
            for i, ch in enumerate(s.channels if s is not None else []):
                combo.addItem(chans[i], ch)
            j = combo.findData(keep) if keep else -1
            combo.setCurrentIndex(j if j >= 0 else max(default, 0))
            combo.blockSignals(False)
        self.refresh()

    # ================================================================ project changes
    def _on_project_changed(self, section: str) -> None:
        if section == "strategy":
            self.session.clear_cache()
            self._forget_dafi()
            was_empty = self._n_gates == 0
            self.refresh()
            if was_empty and self.sample() is not None:
                self.select_population(self.current_population)  # e.g. a strategy was imported
        elif section == "fcs_files":
            self.reload_samples()
        elif section == "compensation":
            self.session.clear_cache()
            self.refresh()
        elif section == "dafi":
            # modes/re-cluster flags (also after undo) and per-sample auto-tune overrides
            self.session.clear_cache()
            self._forget_dafi()
            self.refresh()

    # ================================================================ axes / coordinates
    def _sync_axes(self) -> None:
        """Tell the session what the axis pickers show."""
        self.session.axes = replace(self.session.axes, x_channel=self.x_channel.currentData(),
                                    y_channel=self.y_channel.currentData(),
                                    x_kind=self.x_transform.currentData() or "linear",  # text: a name; data: the ref
                                    y_kind=self.y_transform.currentData() or "linear", compensate=self.compensate.isChecked())

    def comp_ref(self) -> str | None:
        self._sync_axes()
        return self.session.comp_ref()

    def transform_ref(self, kind: str) -> str | None:
        return transform_ref(kind)

    def current_dimensions(self) -> tuple:
        self._sync_axes()
        return self.session.dimensions()

    def _with_axes_transforms(self, strategy):
        """Copy of ``strategy`` that knows the transforms/compensation the axes use."""
        self._sync_axes()
        return self.session.with_axes_transforms(strategy)

    def values(self, dim) -> np.ndarray:
        self._sync_axes()
        return self.session.values(dim)

    def set_axes(self, dims) -> None:
        """Point the axis pickers at a gate's dimensions (channel, transform, compensation)."""
        self._sync_axes()
        axes = self.session.axes_for(tuple(dims))
        for ch, tr, channel, kind in ((self.x_channel, self.x_transform, axes.x_channel, axes.x_kind),
                                      (self.y_channel, self.y_transform, axes.y_channel, axes.y_kind)):
            ch.blockSignals(True)
            tr.blockSignals(True)
            if ch.findData(channel) >= 0:
                ch.setCurrentIndex(ch.findData(channel))
            if tr.findData(kind) < 0:  # e.g. a FlowJo import's transform, named after its channel
                tr.addItem(self.session.transform_name(kind), kind)
                tr.setItemData(tr.count() - 1, f"transform {kind!r} of the gating strategy", Qt.ToolTipRole)
            tr.setCurrentIndex(tr.findData(kind))
            ch.blockSignals(False)
            tr.blockSignals(False)
        self.compensate.blockSignals(True)
        self.compensate.setChecked(axes.compensate)
        self.compensate.blockSignals(False)
        self.session.axes = axes
        self._sync_axes()

    def _on_axes_changed(self, *_) -> None:
        # gate membership does not depend on the axes: redraw only (1M events: no re-gating)
        self.refresh(rebuild_tree=False, evaluate=False)

    # ================================================================ drawing
    def set_tool(self, tool: str) -> None:
        self.plot.set_tool(tool)
        self.tool_actions[tool].setChecked(True)
        for item in self.gate_items.values():
            item.set_interactive(tool == "select")

    def refresh(self, rebuild_tree: bool = True, evaluate: bool = True) -> None:
        """Re-evaluate the current sample, redraw the plot, gates, labels and the tree.

        ``evaluate=False`` (axis changes) keeps the gating result of the current sample when there is one.
        """
        self._sync_axes()
        kept, error = self.session.evaluate(keep=not evaluate)
        if error:
            self.status.setText(error)
        strategy = self._strategy_for(self.current_sample) if self.current_sample else self.strategy()
        self.session.keep_valid_population(strategy)
        self._n_gates = len(strategy.gates)
        if rebuild_tree:
            self._rebuild_tree(strategy)
        elif not kept:
            self._update_tree_counts()
        self._redraw(strategy)
        self.refreshed.emit()

    def _redraw(self, strategy) -> None:
        for item in self.gate_items.values():
            item.remove()
        self.gate_items = {}
        if self.sample() is None or self.x_channel.currentData() is None:
            self.plot.set_data(np.zeros(0), np.zeros(0))
            return
        if not self._plot_events(strategy):
            return
        for gate in self.session.gates_in_view(strategy):
            item = GateItem(gate, self.plot.plot_item)
            item.edited.connect(self._on_gate_edited)
            item.set_interactive(self.plot.view_box.tool == "select")
            item.set_text(self.gate_label(gate))
            self.gate_items[gate.id] = item
        self._draw_dafi_overlay()

    def _plot_events(self, strategy) -> bool:
        """Plot the current population on the current axes; ``False`` if the values cannot be had."""
        from gui.plots.density import data_range
        dims = self.current_dimensions()
        try:
            x = self.values(dims[0])
            y = None if dims[0] == dims[1] else self.values(dims[1])
        except Exception as exc:
            self.status.setText(str(exc))
            return False
        mask = self.session.population_mask(self.current_population)
        xr = data_range(x)
        yr = data_range(y) if y is not None else None
        if mask is not None:
            x = x[mask]
            y = None if y is None else y[mask]
        self.plot.set_data(x, y, x_label=self.x_channel.currentText() + _suffix(self.x_transform.currentText()),
                           y_label=self.y_channel.currentText() + _suffix(self.y_transform.currentText()),
                           x_range=xr, y_range=yr)
        transforms = self._with_axes_transforms(strategy).transforms
        x_ticks = decade_ticks(transforms.get(dims[0].transform_ref), self.plot.x_range_)
        y_ticks = None if y is None else decade_ticks(transforms.get(dims[1].transform_ref), self.plot.y_range_)
        self.plot.set_ticks(x_ticks, y_ticks)
        where = self.current_population or "all events"
        engine = "; counts: FlowJo-compatible (binned display channels)" if strategy.counting == "flowjo" else ""
        self.status.setText(f"{self.current_sample}: {len(x):,} events in {where}{engine}")
        return True

    # ================================================================ tree
    def _rebuild_tree(self, strategy) -> None:
        parents = population_parents(strategy)
        dafi = self.session.dafi_settings()
        result = self.result_
        self.tree_model.set_populations(parents, counts=self.session.counts(parents),
                                        total=0 if result is None else result.event_count,
                                        modes=dict(dafi.modes), recluster=set(dafi.recluster),
                                        editable=set(strategy.gates))
        if result is None and self.sample() is not None:
            self.tree_model.set_counts({}, self.sample().event_count)
        self.tree_view.expandAll()
        self._set_current_row(self.tree_view, self.tree_model.index_of(self.current_population))
        for c in range(self.tree_model.columnCount()):
            self.tree_view.resizeColumnToContents(c)
        fit_population_pane(self)

    def _update_tree_counts(self) -> None:
        if self.result_ is not None:
            self.tree_model.set_counts(self.session.counts(self.result_.membership), self.result_.event_count)

    def _on_population_selected(self, current, _previous=None) -> None:
        self.select_population(self.tree_model.population_id(current) if current.isValid() else None)

    def select_population(self, pid: str | None) -> None:
        """Plot the events of ``pid``; the axes follow its first drawable child gate."""
        first = self.session.select_population(pid)
        if first is not None:
            self.set_axes(first.dimensions)
        idx = self.tree_model.index_of(self.current_population)
        if idx.isValid() and self.tree_view.currentIndex() != idx:
            self._set_current_row(self.tree_view, idx)
        self.refresh(rebuild_tree=False)


def _suffix(kind: str) -> str:
    return "" if kind == "linear" else f" [{kind}]"
