"""The Gating tab: samples, density plot with editable gates, population tree, DAFi, batch.

All edits of the gate tree go through ``project.update_section('strategy', ..., undoable=True)``
(after setting ``project.strategy`` to the edited copy), so every change is undoable and the
tab simply redraws when the project reports ``changed('strategy')``.

Per-sample gate overrides from auto-tune are kept in the ``dafi`` section under
``gate_overrides`` ({sample: {gate_id: gate dict}}); DAFi settings (k, seed, channels,
per-gate ``modes`` and ``recluster`` list) live in the same section.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolBar,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from gui.models.population_tree import MODES, PopulationTreeModel
from gui.models.sample_list import SampleListModel
from gui.plots.density import DensityPlotWidget
from gui.plots.gate_items import GateItem, gate_kind, shape_to_gate
from gui.workers import Worker

TRANSFORM_KINDS = ("linear", "log", "logicle", "arcsinh", "biex")
TOOL_LABELS = (("select", "Select / pan"), ("rectangle", "Rectangle"), ("polygon", "Polygon"),
               ("ellipse", "Ellipse"), ("range", "Range"), ("quadrant", "Quadrant"))


def _gating():
    from gating.compensation import FCS_REF
    from gating.gates import Dimension
    from gating.strategy import GatingStrategy
    from gating.transforms import make_transform
    return FCS_REF, Dimension, GatingStrategy, make_transform


def _evaluate_all(items: list[tuple[str, object, object]], *, progress=None):
    """Evaluate (name, sample, strategy) triples; returns (tidy counts, errors)."""
    from engine.progress import report
    frames, errors = [], {}
    total = len(items)
    for i, (name, sample, strategy) in enumerate(items):
        report(progress, i, total, f"gating {name}")
        if isinstance(sample, str):
            errors[name] = sample
            continue
        try:
            frames.append(strategy.evaluate(sample).counts())
        except Exception as exc:  # one bad sample never stops the others
            errors[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    report(progress, total, total, "done")
    counts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["sample", "population", "count", "parent_count", "pct_parent", "pct_total"])
    return counts, errors


def _refine(sample, strategy, settings: dict, *, progress=None):
    from gating.dafi import DafiRefiner
    refiner = DafiRefiner(n_clusters=int(settings.get("k", 100)), channels=settings.get("channels") or None,
                          random_state=int(settings.get("seed", 0)))
    modes = settings.get("modes") or None
    recluster = set(settings.get("recluster") or ()) or None
    return refiner.fit(sample, strategy, modes=modes, recluster=recluster, progress=progress)


def _autotune(items, strategy, gate_id: str, *, progress=None):
    from engine.progress import report
    from gating.autotune import autotune_gate
    out = {}
    for i, (name, sample) in enumerate(items):
        report(progress, i, len(items), f"auto-tune {name}")
        if isinstance(sample, str):
            out[name] = sample
            continue
        try:
            out[name] = autotune_gate(sample, strategy, gate_id)
        except Exception as exc:
            out[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    report(progress, len(items), len(items), "done")
    return out


class GatingTab(QWidget):
    """Gating workspace. Construct with the shell's ``ProjectModel`` and ``JobRunner``."""

    refreshed = Signal()                 # after the plot and tree were redrawn
    dafi_refined = Signal(object)        # fitted DafiRefiner
    batch_finished = Signal(object)      # (counts DataFrame, errors dict)
    autotune_finished = Signal(object)   # dict sample -> TuneResult | error str

    def __init__(self, project, jobs, parent=None) -> None:
        super().__init__(parent)
        self.project = project
        self.jobs = jobs
        self.current_sample: str | None = None
        self.current_population: str | None = None
        self.result_ = None                       # GatingResult of the current sample
        self._evaluated = None                    # (sample, id(Sample), id(strategy)) result_ is for
        self.dafi_ = None                         # last DafiRefiner for the current sample
        self.batch_ = None                        # (counts, errors) of the last Apply to all
        self.autotune_ = None
        self.gate_items: dict[str, GateItem] = {}
        self._cache: dict[tuple, np.ndarray] = {}
        self._workers: list[Worker] = []
        self.batch_dialog = None
        self._n_gates = 0
        self._build_ui()
        project.changed.connect(self._on_project_changed)
        if hasattr(project, "samples_changed"):
            project.samples_changed.connect(self._show_samples)
        self.reload_samples()

    # ================================================================ UI
    def _build_ui(self) -> None:
        self.sample_model = SampleListModel(self)
        self.sample_view = QListView()
        self.sample_view.setModel(self.sample_model)
        self.sample_view.selectionModel().currentChanged.connect(self._on_sample_selected)

        self.tree_model = PopulationTreeModel(self)
        self.tree_view = QTreeView()
        self.tree_view.setModel(self.tree_model)
        self.tree_view.setDragDropMode(QAbstractItemView.InternalMove)
        self.tree_view.setDragEnabled(True)
        self.tree_view.setAcceptDrops(True)
        self.tree_view.setDropIndicatorShown(True)
        self.tree_view.setContextMenuPolicy(Qt.CustomContextMenu)
        self.tree_view.customContextMenuRequested.connect(self._tree_menu)
        self.tree_view.selectionModel().currentChanged.connect(self._on_population_selected)
        self.tree_model.rename_requested.connect(self.rename_gate)
        self.tree_model.reparent_requested.connect(self.reparent_gate)
        self.tree_model.mode_requested.connect(self.set_dafi_mode)
        self.tree_model.recluster_requested.connect(self.set_recluster)

        self.x_channel, self.y_channel = QComboBox(), QComboBox()
        self.x_transform, self.y_transform = QComboBox(), QComboBox()
        for combo in (self.x_transform, self.y_transform):
            combo.addItems(TRANSFORM_KINDS)
        for combo in (self.x_channel, self.y_channel, self.x_transform, self.y_transform):
            combo.currentIndexChanged.connect(self._on_axes_changed)
        self.compensate = QCheckBox("Compensate")
        self.compensate.setToolTip("Use the sample's spillover matrix (or the edited one)")
        self.compensate.toggled.connect(self._on_axes_changed)
        self.spill_button = QPushButton("Spillover…")
        self.spill_button.clicked.connect(self.edit_spillover)

        self.toolbar = QToolBar()
        self.tool_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for key, label in TOOL_LABELS:
            act = QAction(label, self, checkable=True)
            act.triggered.connect(lambda _=False, k=key: self.set_tool(k))
            group.addAction(act)
            self.toolbar.addAction(act)
            self.tool_actions[key] = act
        self.tool_actions["select"].setChecked(True)
        self.toolbar.addSeparator()
        self.delete_action = QAction("Delete gate", self)
        self.delete_action.setShortcut(QKeySequence.Delete)
        self.delete_action.triggered.connect(self.delete_selected)
        self.toolbar.addAction(self.delete_action)
        undo = self.project.undo_stack.createUndoAction(self, "Undo")
        redo = self.project.undo_stack.createRedoAction(self, "Redo")
        self.toolbar.addAction(undo)
        self.toolbar.addAction(redo)

        self.plot = DensityPlotWidget()
        self.plot.setMinimumSize(420, 360)
        self.plot.shape_drawn.connect(self._on_shape_drawn)

        axes = QHBoxLayout()
        for label, ch, tr in (("X", self.x_channel, self.x_transform), ("Y", self.y_channel, self.y_transform)):
            axes.addWidget(QLabel(label))
            axes.addWidget(ch, 2)
            axes.addWidget(tr, 1)
        axes.addWidget(self.compensate)
        axes.addWidget(self.spill_button)

        self.dafi_button = QPushButton("Refine with DAFi")
        self.dafi_button.clicked.connect(self.refine_with_dafi)
        self.dafi_settings_button = QPushButton("DAFi settings…")
        self.dafi_settings_button.clicked.connect(self.edit_dafi_settings)
        self.autotune_button = QPushButton("Auto-tune gate")
        self.autotune_button.clicked.connect(self.autotune_selected)
        self.apply_button = QPushButton("Apply to all samples")
        self.apply_button.clicked.connect(self.apply_to_all)
        self.import_button = QPushButton("Import Gating-ML…")
        self.import_button.clicked.connect(lambda: self._file_action("import"))
        self.export_button = QPushButton("Export Gating-ML…")
        self.export_button.clicked.connect(lambda: self._file_action("export"))
        self.status = QLabel()
        self.status.setObjectName("gatingStatus")
        actions = QHBoxLayout()
        for b in (self.dafi_button, self.dafi_settings_button, self.autotune_button, self.apply_button,
                  self.import_button, self.export_button):
            actions.addWidget(b)
        actions.addStretch(1)

        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.toolbar)
        cl.addLayout(axes)
        cl.addWidget(self.plot, 1)
        cl.addLayout(actions)
        cl.addWidget(self.status)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Samples"))
        ll.addWidget(self.sample_view)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(QLabel("Populations"))
        rl.addWidget(self.tree_view)

        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(centre)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        split.setSizes([180, 700, 460])
        lay = QVBoxLayout(self)
        lay.addWidget(split)

    # ================================================================ samples
    def reload_samples(self) -> None:
        """List the project's FCS files and read the unread ones in a worker (never on this thread).

        A file being read shows as "reading…"; one that cannot be read shows its error inline.
        """
        from gui.samples import read_missing_samples
        read_missing_samples(self.project, self.jobs)
        self._show_samples()

    def _show_samples(self) -> None:
        paths = self.project.fcs_paths() if hasattr(self.project, "fcs_paths") else []
        samples: dict = {}
        for p in paths:
            samples[Path(p).stem] = self.project.samples.get(Path(p).stem)  # None: not read (yet)
        for name, s in self.project.samples.items():
            samples.setdefault(name, s)
        self._cache.clear()
        busy = getattr(self.project, "sample_reader", None) is not None  # unread files are next in line
        self.sample_model.set_samples(samples, reading={n for n, v in samples.items() if v is None} if busy else ())
        ok = self.sample_model.ok_names()
        if self.current_sample in ok:
            row = self.sample_model.row_of(self.current_sample)
            self.sample_view.selectionModel().blockSignals(True)
            self.sample_view.setCurrentIndex(self.sample_model.index(row))
            self.sample_view.selectionModel().blockSignals(False)
        else:
            self.current_sample = None
            if ok:
                self.select_sample(ok[0])
                self.select_population(self.current_population)  # axes follow the first gate
            else:
                self.refresh()

    def _sample_or_error(self, name: str):
        """The loaded Sample, its read error, or a note that the file has not been read yet."""
        s = self.project.samples.get(name)
        return "the file has not been read yet" if s is None else s

    def sample(self):
        s = self.project.samples.get(self.current_sample) if self.current_sample else None
        return None if isinstance(s, str) else s

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
        self.dafi_ = None
        self.tree_model.set_dafi({})
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

    # ================================================================ strategy helpers
    def strategy(self):
        s = self.project.strategy
        if s is None:
            s = _gating()[2]()
        return s

    def _strategy_for(self, name: str):
        """The strategy with this sample's accepted auto-tune overrides."""
        s = self.strategy()
        over = (self.project.data.get("dafi") or {}).get("gate_overrides", {}).get(name)
        if not over:
            return s
        from gating.gates import gate_from_dict
        s = s.copy()
        for gid, gd in over.items():
            if gid in s.gates:
                s.replace_gate(gate_from_dict(gd))
        return s

    def commit(self, strategy, text: str) -> None:
        """Make ``strategy`` the project's strategy as one undoable step."""
        self.project.strategy = strategy
        self.project.update_section("strategy", strategy.to_dict(), undoable=True, text=text)

    def _edited_copy(self):
        return self.strategy().copy()

    def _on_project_changed(self, section: str) -> None:
        if section == "strategy":
            self._cache.clear()
            self.dafi_ = None
            self.tree_model.set_dafi({})
            was_empty = self._n_gates == 0
            self.refresh()
            if was_empty and self.sample() is not None:
                self.select_population(self.current_population)  # e.g. a strategy was imported
        elif section == "fcs_files":
            self.reload_samples()
        elif section == "compensation":
            self._cache.clear()
            self.refresh()
        elif section == "dafi":
            # modes/re-cluster flags (also after undo) and per-sample auto-tune overrides
            self._cache.clear()
            self.dafi_ = None
            self.tree_model.set_dafi({})
            self.refresh()

    # ================================================================ axes / coordinates
    def comp_ref(self) -> str | None:
        if not self.compensate.isChecked():
            return None
        gate_ref = getattr(self, "_axes_comp", None)  # a workspace matrix of the gates shown (FlowJo imports)
        if gate_ref and gate_ref in self.strategy().compensations:
            return gate_ref
        comp = self.project.data.get("compensation") or {}
        return comp.get("id", "user") if comp.get("matrix") else _gating()[0]

    def transform_ref(self, kind: str) -> str | None:
        return None if kind == "linear" else kind

    def current_dimensions(self) -> tuple:
        _, Dimension, _, _ = _gating()
        comp = self.comp_ref()
        return (Dimension(self.x_channel.currentData(), comp, self.transform_ref(self.x_transform.currentText())),
                Dimension(self.y_channel.currentData(), comp, self.transform_ref(self.y_transform.currentText())))

    def _with_axes_transforms(self, strategy):
        """Copy of ``strategy`` that knows the transforms/compensation the axes use."""
        _, _, _, make_transform = _gating()
        s = strategy
        need = [k for k in (self.x_transform.currentText(), self.y_transform.currentText())
                if k != "linear" and k not in s.transforms]
        comp = self.project.data.get("compensation") or {}
        ref = self.comp_ref()
        need_comp = ref is not None and ref != _gating()[0] and ref not in s.compensations
        if need or need_comp:
            s = s.copy()
            for k in need:
                s.add_transform(make_transform(k, id=k))
            if need_comp:
                from gating.compensation import Compensation
                s.add_compensation(Compensation(id=ref, detectors=tuple(comp["detectors"]),
                                                fluorochromes=tuple(comp["detectors"]),
                                                matrix=np.asarray(comp["matrix"], dtype=np.float64)))
        return s

    def values(self, dim) -> np.ndarray:
        key = (self.current_sample, dim)
        if key not in self._cache:
            s = self._with_axes_transforms(self._strategy_for(self.current_sample))
            self._cache[key] = s.dimension_values(self.sample(), dim)
        return self._cache[key]

    def set_axes(self, dims) -> None:
        """Point the axis pickers at a gate's dimensions (channel, transform, compensation)."""
        combos = ((self.x_channel, self.x_transform), (self.y_channel, self.y_transform))
        if len(dims) == 1:
            dims = (dims[0], dims[0])
        for (ch, tr), d in zip(combos, dims):
            ch.blockSignals(True)
            tr.blockSignals(True)
            j = self._channel_row(d.channel)
            if j >= 0:
                ch.setCurrentIndex(j)
            kind = self._kind_of(d.transform_ref)
            k = tr.findText(kind)
            if k < 0:
                tr.addItem(kind)
                k = tr.findText(kind)
            tr.setCurrentIndex(k)
            ch.blockSignals(False)
            tr.blockSignals(False)
        self._axes_comp = dims[0].compensation_ref
        self.compensate.blockSignals(True)
        self.compensate.setChecked(dims[0].compensation_ref not in (None, "uncompensated"))
        self.compensate.blockSignals(False)

    def _channel_row(self, channel: str) -> int:
        """Row of a channel given by ``$PnN`` or marker (gates may use either)."""
        s = self.sample()
        if s is None:
            return -1
        try:
            return s.channel_index(channel)
        except Exception:
            return -1

    def _same_dim(self, a, b) -> bool:
        unc = (None, "uncompensated")
        return (self._channel_row(a.channel) == self._channel_row(b.channel) >= 0
                and a.transform_ref == b.transform_ref and a.ratio == b.ratio
                and (a.compensation_ref == b.compensation_ref
                     or (a.compensation_ref in unc and b.compensation_ref in unc)))

    def _kind_of(self, transform_ref) -> str:
        return "linear" if transform_ref is None else str(transform_ref)

    def _on_axes_changed(self, *_) -> None:
        # gate membership does not depend on the axes: redraw only (1M events: no re-gating)
        self.refresh(rebuild_tree=False, evaluate=False)

    # ================================================================ drawing
    def set_tool(self, tool: str) -> None:
        self.plot.set_tool(tool)
        self.tool_actions[tool].setChecked(True)
        for item in self.gate_items.values():
            item.set_interactive(tool == "select")

    def _axes_match(self, gate) -> bool:
        dims = self.current_dimensions()
        if gate_kind(gate) == "range":
            return dims[0] == dims[1] and self._same_dim(gate.dimensions[0], dims[0])
        if dims[0] == dims[1] or len(gate.dimensions) != 2:
            return False
        return self._same_dim(gate.dimensions[0], dims[0]) and self._same_dim(gate.dimensions[1], dims[1])

    def refresh(self, rebuild_tree: bool = True, evaluate: bool = True) -> None:
        """Re-evaluate the current sample, redraw the plot, gates, labels and the tree.

        ``evaluate=False`` (axis changes) keeps the gating result of the current sample when there is one.
        """
        s = self.sample()
        strategy = self._strategy_for(self.current_sample) if self.current_sample else self.strategy()
        keep = (not evaluate and self.result_ is not None and s is not None
                and self._evaluated == (self.current_sample, id(s), id(self.project.strategy)))
        if not keep:
            self.result_ = None
            self._evaluated = None
            if s is not None and strategy.gates:
                try:
                    self.result_ = self._with_axes_transforms(strategy).evaluate(s)
                    self._evaluated = (self.current_sample, id(s), id(self.project.strategy))
                except Exception as exc:
                    self.status.setText(f"Cannot evaluate the gates on {self.current_sample}: {exc}")
        if self.current_population is not None and self.current_population not in strategy.population_ids():
            self.current_population = None
        self._n_gates = len(strategy.gates)
        if rebuild_tree:
            self._rebuild_tree(strategy)
        elif not keep:
            self._update_tree_counts()
        self._redraw(strategy)
        self.refreshed.emit()

    def _population_mask(self, pid):
        if pid is None or self.result_ is None:
            return None
        return self.result_.membership.get(pid)

    def _redraw(self, strategy) -> None:
        for item in self.gate_items.values():
            item.remove()
        self.gate_items = {}
        s = self.sample()
        if s is None or self.x_channel.currentData() is None:
            self.plot.set_data(np.zeros(0), np.zeros(0))
            return
        dims = self.current_dimensions()
        try:
            x = self.values(dims[0])
            y = None if dims[0] == dims[1] else self.values(dims[1])
        except Exception as exc:
            self.status.setText(str(exc))
            return
        mask = self._population_mask(self.current_population)
        xr = _range_all(x)
        yr = _range_all(y) if y is not None else None
        if mask is not None:
            x = x[mask]
            y = None if y is None else y[mask]
        self.plot.set_data(x, y, x_label=self.x_channel.currentText() + _suffix(self.x_transform.currentText()),
                           y_label=self.y_channel.currentText() + _suffix(self.y_transform.currentText()),
                           x_range=xr, y_range=yr)
        total = len(x)
        where = self.current_population or "all events"
        engine = "; counts: FlowJo-compatible (binned display channels)" if strategy.counting == "flowjo" else ""
        self.status.setText(f"{self.current_sample}: {total:,} events in {where}{engine}")
        for pid in strategy.children(self.current_population):
            gate = strategy.gate_of(pid)  # a quadrant id gives its quadrant gate
            if gate.id in self.gate_items or gate_kind(gate) in ("boolean", "other") \
                    or not self._axes_match(gate):
                continue
            item = GateItem(gate, self.plot.plot_item)
            item.edited.connect(self._on_gate_edited)
            item.set_interactive(self.plot.view_box.tool == "select")
            item.set_text(self.gate_label(gate))
            self.gate_items[gate.id] = item
        self._draw_dafi_overlay()

    def gate_label(self, gate) -> str:
        """Name, count and % of parent of a gate (each quadrant on its own line)."""
        lines = []
        for pid in gate.population_ids():
            n, parent_n = self.count(pid)
            pct = 100.0 * n / parent_n if parent_n else 0.0
            lines.append(f"{pid.rsplit(': ', 1)[-1] if pid != gate.id else pid}: {n:,} ({pct:.1f}%)")
        return "\n".join(lines)

    def count(self, pid: str) -> tuple[int, int]:
        """(count, parent count) of a population in the current sample."""
        if self.result_ is None or pid not in self.result_.membership:
            return 0, 0
        n = int(np.count_nonzero(self.result_.membership[pid]))
        par = self.result_.parents.get(pid)
        pn = self.result_.event_count if par is None else int(np.count_nonzero(self.result_.membership[par]))
        return n, pn

    def _on_shape_drawn(self, kind: str, points) -> None:
        if self.sample() is None:
            return
        strategy = self._with_axes_transforms(self.strategy()).copy()
        dims = self.current_dimensions()
        if kind == "range" and dims[0] != dims[1]:
            dims = (dims[0],)
        base = {"rectangle": "Rectangle", "polygon": "Polygon", "ellipse": "Ellipse",
                "range": "Range", "quadrant": "Quadrant"}[kind]
        taken = set(strategy.population_ids()) | set(strategy.gates)
        i = 1
        while f"{base} {i}" in taken:
            i += 1
        try:
            gate = shape_to_gate(kind, points, gate_id=f"{base} {i}", parent_id=self.current_population,
                                 dimensions=dims)
            strategy.add_gate(gate)
        except Exception as exc:
            QMessageBox.warning(self, "Cannot add gate", str(exc))
            return
        self.commit(strategy, f"Draw {gate.id}")
        self.set_tool("select")

    def _on_gate_edited(self, gate) -> None:
        strategy = self.strategy().copy()
        strategy.replace_gate(gate)
        self.commit(strategy, f"Edit {gate.id}")

    # ================================================================ tree
    def _rebuild_tree(self, strategy) -> None:
        parents: dict[str, str | None] = {}
        editable = set()
        for g in strategy.gates.values():
            if gate_kind(g) == "quadrant":
                parents[g.id] = g.parent_id
                for q in g.population_ids():
                    parents[q] = g.id
            else:
                parents[g.id] = g.parent_id
            editable.add(g.id)
        dafi = self.project.data.get("dafi") or {}
        counts = {pid: self.count(pid) for pid in parents if self.result_ is not None
                  and pid in self.result_.membership}
        self.tree_model.set_populations(parents, counts=counts,
                                        total=0 if self.result_ is None else self.result_.event_count,
                                        modes=dafi.get("modes") or {}, recluster=set(dafi.get("recluster") or ()),
                                        editable=editable)
        if self.result_ is None and self.sample() is not None:
            self.tree_model.set_counts({}, self.sample().event_count)
        self.tree_view.expandAll()
        idx = self.tree_model.index_of(self.current_population)
        self.tree_view.selectionModel().blockSignals(True)
        self.tree_view.setCurrentIndex(idx)
        self.tree_view.selectionModel().blockSignals(False)
        for c in range(0, 5):
            self.tree_view.resizeColumnToContents(c)

    def _update_tree_counts(self) -> None:
        if self.result_ is None:
            return
        counts = {pid: self.count(pid) for pid in self.result_.membership}
        self.tree_model.set_counts(counts, self.result_.event_count)

    def _on_population_selected(self, current, _previous=None) -> None:
        self.select_population(self.tree_model.population_id(current) if current.isValid() else None)

    def select_population(self, pid: str | None) -> None:
        """Plot the events of ``pid``; the axes follow its first drawable child gate."""
        strategy = self.strategy()
        if pid is not None and pid not in strategy.population_ids():
            pid = None if pid not in strategy.gates else pid
        self.current_population = pid if (pid is None or pid in strategy.population_ids()) else None
        kids = list({strategy.gate_of(c).id: strategy.gate_of(c)
                     for c in strategy.children(self.current_population)}.values())
        kids = [k for k in kids if gate_kind(k) not in ("boolean", "other")]
        if kids:
            self.set_axes(kids[0].dimensions)
        idx = self.tree_model.index_of(self.current_population)
        if idx.isValid() and self.tree_view.currentIndex() != idx:
            self.tree_view.selectionModel().blockSignals(True)
            self.tree_view.setCurrentIndex(idx)
            self.tree_view.selectionModel().blockSignals(False)
        self.refresh(rebuild_tree=False)

    def rename_gate(self, old: str, new: str) -> None:
        s = self.strategy().copy()
        try:
            s.rename_gate(old, new)
        except Exception as exc:
            QMessageBox.warning(self, "Cannot rename", str(exc))
            return
        if self.current_population == old:
            self.current_population = new
        self.commit(s, f"Rename {old} to {new}")

    def reparent_gate(self, gate_id: str, new_parent) -> None:
        s = self.strategy().copy()
        try:
            s.reparent(gate_id, new_parent)
        except Exception as exc:
            QMessageBox.warning(self, "Cannot move", str(exc))
            return
        self.commit(s, f"Move {gate_id} under {new_parent or 'all events'}")

    def delete_gate(self, gate_id: str) -> None:
        s = self.strategy().copy()
        s.remove_gate(gate_id)
        if self.current_population is not None and self.current_population not in s.population_ids():
            self.current_population = None
        self.commit(s, f"Delete {gate_id}")

    def delete_selected(self) -> None:
        pid = self.tree_model.population_id(self.tree_view.currentIndex())
        strategy = self.strategy()
        if pid is None:
            return
        gid = pid if pid in strategy.gates else strategy.gate_of(pid).id
        self.current_population = strategy.gate_of(pid).parent_id
        self.delete_gate(gid)

    def _tree_menu(self, pos) -> None:
        idx = self.tree_view.indexAt(pos)
        pid = self.tree_model.population_id(idx)
        strategy = self.strategy()
        if pid is None or pid not in strategy.gates:
            return
        menu = QMenu(self)
        menu.addAction("Rename", lambda: self.tree_view.edit(self.tree_model.index_of(pid)))
        menu.addAction("Delete", lambda: self.delete_gate(pid))
        move = menu.addMenu("Move under")
        move.addAction("All events", lambda: self.reparent_gate(pid, None))
        for other in strategy.population_ids():
            if other != pid and not self.tree_model.is_descendant(other, pid):
                move.addAction(other, lambda o=other: self.reparent_gate(pid, o))
        mode = menu.addMenu("DAFi mode")
        for m in MODES:
            mode.addAction(m, lambda m=m: self.set_dafi_mode(pid, m))
        menu.addAction("Auto-tune on all samples", lambda: self.autotune(pid))
        menu.exec(self.tree_view.viewport().mapToGlobal(pos))

    # ================================================================ DAFi
    def dafi_settings(self) -> dict:
        d = self.project.section("dafi")
        d.setdefault("k", 100)
        d.setdefault("seed", 0)
        d.setdefault("channels", [])
        d.setdefault("modes", {})
        d.setdefault("recluster", [])
        return d

    def set_dafi_mode(self, gate_id: str, mode: str) -> None:
        d = self.dafi_settings()
        d["modes"][gate_id] = mode
        self.project.update_section("dafi", d, undoable=True, text=f"DAFi mode of {gate_id}: {mode}")

    def set_recluster(self, gate_id: str, on: bool) -> None:
        d = self.dafi_settings()
        rec = set(d["recluster"])
        (rec.add if on else rec.discard)(gate_id)
        d["recluster"] = sorted(rec)
        self.project.update_section("dafi", d, undoable=True, text=f"Re-cluster {gate_id}: {on}")

    def edit_dafi_settings(self) -> None:
        from gui.gating_dialogs import DafiSettingsDialog
        s = self.sample()
        d = self.dafi_settings()
        dlg = DafiSettingsDialog(list(s.channels) if s is not None else [], d, self)
        if dlg.exec():
            d.update(dlg.settings())
            self.project.update_section("dafi", d, undoable=True, text="DAFi settings")

    def refine_with_dafi(self) -> Worker | None:
        """Run DAFi on the current sample in a worker; the result shows as a colour overlay."""
        s = self.sample()
        if s is None or not self.strategy().gates:
            return None
        strategy = self._with_axes_transforms(self._strategy_for(self.current_sample))
        worker = Worker(_refine, s, strategy, self.dafi_settings())
        worker.finished.connect(self._on_dafi_done)
        return self._start(worker, f"DAFi on {self.current_sample}")

    def _on_dafi_done(self, refiner) -> None:
        self.dafi_ = refiner
        plain = getattr(refiner, "plain_counts_", {}) or {}
        self.tree_model.set_dafi({p: (int(m.sum()), plain.get(p, 0)) for p, m in refiner.membership_.items()})
        self._draw_dafi_overlay()
        self.dafi_refined.emit(refiner)

    def _draw_dafi_overlay(self) -> None:
        self.plot.clear_overlay()
        if self.dafi_ is None or not self.gate_items or self.plot.view_box.one_d:
            return
        mem = self.dafi_.membership_
        keep = None
        for gid, item in self.gate_items.items():
            for pid in item.gate.population_ids():
                if pid in mem:
                    keep = mem[pid].copy() if keep is None else keep | mem[pid]
        if keep is None:
            return
        parent = self._population_mask(self.current_population)
        if parent is not None:
            keep &= parent
        dims = self.current_dimensions()
        self.plot.set_overlay(self.values(dims[0])[keep], self.values(dims[1])[keep])
        shown = [p for item in self.gate_items.values() for p in item.gate.population_ids() if p in mem]
        parts = [f"{p.rsplit('/', 1)[-1]} {self.tree_model.dafi_text(p)}" for p in shown
                 if self.tree_model.dafi_text(p)]
        shrunk = [w for w in getattr(self.dafi_, "warnings_", [])]
        self.status.setText("DAFi refined / plain: " + ("; ".join(parts) or "no gate in view")
                            + (f". Warning: {'; '.join(shrunk)}" if shrunk else ""))

    # ================================================================ auto-tune
    def autotune_selected(self) -> Worker | None:
        pid = self.tree_model.population_id(self.tree_view.currentIndex())
        return self.autotune(pid) if pid else None

    def autotune(self, gate_id: str) -> Worker | None:
        strategy = self.strategy()
        if gate_id not in strategy.gates:
            return None
        items = [(n, self._sample_or_error(n)) for n in self.sample_model.names()]
        worker = Worker(_autotune, items, self._with_axes_transforms(strategy), gate_id)
        # a lambda would run in the worker thread (and open the review dialog there)
        worker.call_in_ui(worker.finished, lambda res, g=gate_id: self._on_autotuned(g, res))
        return self._start(worker, f"Auto-tune {gate_id}")

    def autotune_thumbnails(self, gate_id: str, results: dict) -> list[dict]:
        from gui.plots.gate_items import outline
        strategy = self._with_axes_transforms(self.strategy())
        gate = strategy.gates[gate_id]
        thumbs = []
        for name, res in results.items():
            if isinstance(res, str):
                thumbs.append({"sample": name, "error": res})
                continue
            sample = self.project.samples[name]
            ev = strategy.evaluate(sample)
            coords = strategy.gate_coordinates(sample, gate_id)
            if gate.parent_id is not None:
                coords = coords[ev.membership[gate.parent_id]]
            if coords.shape[1] == 1:
                coords = np.column_stack([coords[:, 0], coords[:, 0]])
            thumbs.append({"sample": name, "x": coords[:, 0], "y": coords[:, 1], "old": outline(gate),
                           "new": outline(res.gate), "shift": float(res.shift), "gate": res.gate})
        return thumbs

    def _on_autotuned(self, gate_id: str, results: dict) -> None:
        self.autotune_ = (gate_id, results)
        self.autotune_finished.emit(results)
        if getattr(self, "autotune_interactive", True):
            from gui.gating_dialogs import AutoTuneDialog
            dlg = AutoTuneDialog(gate_id, self.autotune_thumbnails(gate_id, results), self)
            if dlg.exec():
                self.accept_autotune(gate_id, results, dlg.accepted_samples())

    def accept_autotune(self, gate_id: str, results: dict, samples: list[str]) -> None:
        """Store the adapted gate as a per-sample override for ``samples``; revert the others."""
        d = self.dafi_settings()
        over = d.setdefault("gate_overrides", {})
        for name, res in results.items():
            entry = over.setdefault(name, {})
            if name in samples and not isinstance(res, str):
                entry[gate_id] = res.gate.to_dict()
            else:
                entry.pop(gate_id, None)
            if not entry:
                over.pop(name)
        self.project.update_section("dafi", d, undoable=True, text=f"Auto-tune {gate_id}")
        self._cache.clear()
        self.refresh()

    # ================================================================ apply to all
    def apply_to_all(self) -> Worker:
        """Gate every sample (with its overrides) in a worker; shows the results table."""
        items = [(n, self._sample_or_error(n), self._with_axes_transforms(self._strategy_for(n)))
                 for n in self.sample_model.names()]
        worker = Worker(_evaluate_all, items)
        worker.finished.connect(self._on_batch_done)
        return self._start(worker, "Apply gates to all samples")

    def _on_batch_done(self, result) -> None:
        counts, errors = result
        self.batch_ = (counts, errors)
        self.batch_finished.emit(self.batch_)
        from gui.gating_dialogs import BatchResultsDialog
        self.batch_dialog = BatchResultsDialog(counts, errors, self.project, self)
        self.batch_dialog.setModal(False)
        self.batch_dialog.show()

    # ================================================================ misc
    def _start(self, worker: Worker, label: str) -> Worker:
        self._workers = [w for w in self._workers if w.state in ("ready", "running")]
        self._workers.append(worker)
        return self.jobs.start(worker, label)

    def edit_spillover(self) -> None:
        from gui.gating_dialogs import SpilloverDialog
        comp = self.project.section("compensation")
        s = self.sample()
        if comp.get("matrix"):
            dets, mat = comp["detectors"], np.asarray(comp["matrix"])
        elif s is not None and s.spillover is not None:
            dets, mat = s.spillover
        else:
            QMessageBox.information(self, "Spillover", "The current sample has no spillover matrix.")
            return
        dlg = SpilloverDialog(list(dets), np.asarray(mat), self)
        if dlg.exec():
            self.set_spillover(list(dets), dlg.matrix())

    def set_spillover(self, detectors: list[str], matrix: np.ndarray) -> None:
        """Use an edited spillover matrix for compensation (undoable, saved in the project)."""
        self.project.update_section("compensation", {"id": "user", "detectors": list(detectors),
                                                     "matrix": np.asarray(matrix).tolist()},
                                    undoable=True, text="Edit spillover matrix")
        self.compensate.setChecked(True)

    def import_gatingml(self, path) -> None:
        """Replace the gates by a template recognised by content (Gating-ML, FlowJo workspace, JSON)."""
        from gating.templates import load_template
        self.current_population = None
        self.commit(load_template(str(path)), f"Import {Path(path).name}")
        self.select_population(None)

    def export_gatingml(self, path) -> None:
        from gating.gatingml import to_gatingml_string
        from study.files import write_text
        write_text(path, to_gatingml_string(self._with_axes_transforms(self.strategy())))

    def _file_action(self, kind: str) -> None:
        flt = "Gating-ML (*.xml)"
        try:
            if kind == "import":
                path, _ = QFileDialog.getOpenFileName(self, "Import gates", "",
                                                      "Gating templates (*.xml *.wsp *.json);;All files (*)")
                if path:
                    self.import_gatingml(path)
            else:
                path, _ = QFileDialog.getSaveFileName(self, "Export Gating-ML", "gates.xml", flt)
                if path:
                    self.export_gatingml(path)
        except Exception as exc:
            QMessageBox.warning(self, "Gating-ML", f"{path}: {exc}")


def _suffix(kind: str) -> str:
    return "" if kind == "linear" else f" [{kind}]"


def _range_all(v):
    from gui.plots.density import data_range
    return data_range(v)
