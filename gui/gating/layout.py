"""Widgets of the Gating tab: samples on the left, tools, axes, plot and actions in the centre,
the population tree on the right. Each builder creates its widgets as attributes of the tab and
connects them to the tab's slots."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QPushButton,
    QSplitter,
    QToolBar,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from gating.transforms import make_transform
from gui.models.population_tree import PopulationTreeModel
from gui.models.sample_list import SampleListModel
from gui.plots.density import DensityPlotWidget
from study.gating_session import TRANSFORM_KINDS, transform_name

TOOL_LABELS = (("select", "Select"), ("rectangle", "Rectangle"), ("polygon", "Polygon"),
               ("ellipse", "Ellipse"), ("range", "Range"), ("quadrant", "Quadrant"))


def build_ui(tab) -> None:
    """Create every widget of ``tab`` and lay them out in a three-pane splitter."""
    left = _column("Samples", _sample_list(tab))
    tab.add_files_button = QPushButton("Add files…")
    tab.add_files_button.setToolTip("Add FCS or LMD files to the project (or drop files and folders on the window)")
    tab.add_files_button.clicked.connect(lambda _=False: tab.add_files())
    left.layout().addWidget(tab.add_files_button)
    right = _column("Populations", _population_tree(tab))
    centre = _centre(tab)
    tab.splitter = split = QSplitter(Qt.Horizontal)
    split.addWidget(left)
    split.addWidget(centre)
    split.addWidget(right)
    split.setStretchFactor(1, 3)
    split.setSizes([180, 620, 460])  # the tree widens to its columns when needed (fit_population_pane)
    outer = QVBoxLayout(tab)
    outer.setContentsMargins(4, 4, 4, 4)
    outer.addWidget(split)


def fit_population_pane(tab) -> None:
    """Widen the population pane (taking from the plot) until every column of the tree shows whole,
    as long as the plot keeps its minimum width."""
    view, split = tab.tree_view, tab.splitter
    header = view.header()
    need = sum(max(header.sectionSizeHint(c), view.sizeHintForColumn(c))  # the last section stretches: hints
               for c in range(header.count()) if not header.isSectionHidden(c))
    need += 2 * view.frameWidth() + view.verticalScrollBar().sizeHint().width() + 4
    sizes = split.sizes()
    if len(sizes) != 3 or sizes[2] >= need or not split.isVisible():
        return
    centre_min = max(split.widget(1).minimumSizeHint().width(), tab.toolbar.sizeHint().width() + 4)  # whole toolbar
    from_centre = min(need - sizes[2], max(0, sizes[1] - centre_min))
    from_left = min(need - sizes[2] - from_centre, max(0, sizes[0] - 130))
    if from_centre + from_left > 0:
        split.setSizes([sizes[0] - from_left, sizes[1] - from_centre, sizes[2] + from_centre + from_left])


def _column(title: str, view: QWidget) -> QWidget:
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(QLabel(title))
    lay.addWidget(view)
    return box


def _sample_list(tab) -> QListView:
    tab.sample_model = SampleListModel(tab)
    tab.sample_view = QListView()
    tab.sample_view.setModel(tab.sample_model)
    tab.sample_view.selectionModel().currentChanged.connect(tab._on_sample_selected)
    return tab.sample_view


def _population_tree(tab) -> QTreeView:
    tab.tree_model = model = PopulationTreeModel(tab)
    tab.tree_view = view = QTreeView()
    view.setModel(model)
    view.setIndentation(14)  # deep trees: room for the count and DAFi columns at 1280 px
    view.setDragDropMode(QAbstractItemView.InternalMove)
    view.setDragEnabled(True)
    view.setAcceptDrops(True)
    view.setDropIndicatorShown(True)
    view.setContextMenuPolicy(Qt.CustomContextMenu)
    view.customContextMenuRequested.connect(tab._tree_menu)
    view.selectionModel().currentChanged.connect(tab._on_population_selected)
    header = view.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # names and headers in full
    view.setColumnHidden(5, True)  # DAFi / plain: shown once DAFi has refined the gates
    model.rename_requested.connect(tab.rename_gate)
    model.reparent_requested.connect(tab.reparent_gate)
    model.mode_requested.connect(tab.set_dafi_mode)
    model.recluster_requested.connect(tab.set_recluster)
    return view


def _centre(tab) -> QWidget:
    toolbar = _toolbar(tab)
    axes = _axes_bar(tab)
    tab.plot = DensityPlotWidget()
    tab.plot.setMinimumSize(420, 360)
    tab.plot.shape_drawn.connect(tab._on_shape_drawn)
    actions = _action_buttons(tab)
    tab.status = QLabel()
    tab.status.setObjectName("gatingStatus")
    centre = QWidget()
    lay = QVBoxLayout(centre)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(toolbar)
    lay.addLayout(axes)
    lay.addWidget(tab.plot, 1)
    lay.addLayout(actions)
    lay.addWidget(tab.status)
    return centre


def _toolbar(tab) -> QToolBar:
    """Drawing tools (one checked at a time), Delete gate, Undo and Redo."""
    tab.toolbar = QToolBar()
    tab.tool_actions = {}
    group = QActionGroup(tab)
    for key, label in TOOL_LABELS:
        act = QAction(label, tab, checkable=True)
        if key == "select":
            act.setToolTip("Select, move and edit gates; drag to pan, wheel to zoom")
        act.triggered.connect(lambda _=False, k=key: tab.set_tool(k))
        group.addAction(act)
        tab.toolbar.addAction(act)
        tab.tool_actions[key] = act
    tab.tool_actions["select"].setChecked(True)
    tab.toolbar.addSeparator()
    tab.delete_action = QAction("Delete gate", tab)
    tab.delete_action.setShortcut(QKeySequence.Delete)
    tab.delete_action.triggered.connect(tab.delete_selected)
    tab.toolbar.addAction(tab.delete_action)
    stack = tab.project.undo_stack
    tab.toolbar.addAction(stack.createUndoAction(tab, "Undo"))
    tab.toolbar.addAction(stack.createRedoAction(tab, "Redo"))
    return tab.toolbar


def _axes_bar(tab) -> QHBoxLayout:
    """X and Y channel and transform pickers, the Compensate box and the spillover editor."""
    tab.x_channel, tab.y_channel = QComboBox(), QComboBox()
    tab.x_transform, tab.y_transform = QComboBox(), QComboBox()
    for combo in (tab.x_transform, tab.y_transform):
        for kind in TRANSFORM_KINDS:  # text: the transform's name; data: its reference
            combo.addItem(transform_name(make_transform(kind)) if kind != "linear" else "linear", kind)
    for combo in (tab.x_channel, tab.y_channel, tab.x_transform, tab.y_transform):
        combo.currentIndexChanged.connect(tab._on_axes_changed)
    tab.compensate = QCheckBox("Compensate")
    tab.compensate.setToolTip("Use the sample's spillover matrix (or the edited one)")
    tab.compensate.toggled.connect(tab._on_axes_changed)
    tab.spill_button = QPushButton("Spillover…")
    tab.spill_button.clicked.connect(tab.edit_spillover)
    axes = QHBoxLayout()
    for label, ch, tr in (("X", tab.x_channel, tab.x_transform), ("Y", tab.y_channel, tab.y_transform)):
        axes.addWidget(QLabel(label))
        axes.addWidget(ch, 2)
        axes.addWidget(tr, 1)
    axes.addWidget(tab.compensate)
    axes.addWidget(tab.spill_button)
    return axes


def _action_buttons(tab) -> QGridLayout:
    """DAFi, auto-tune, apply to all and Gating-ML buttons in one row."""
    buttons = (("dafi_button", "Refine with DAFi", tab.refine_with_dafi),
               ("dafi_settings_button", "DAFi settings…", tab.edit_dafi_settings),
               ("autotune_button", "Auto-tune gate", tab.autotune_selected),
               ("apply_button", "Apply to all samples", tab.apply_to_all),
               ("import_button", "Import Gating-ML…", lambda: tab._file_action("import")),
               ("export_button", "Export Gating-ML…", lambda: tab._file_action("export")))
    row = QGridLayout()  # two rows of three: the centre stays narrow enough for the population columns
    for i, (attr, text, slot) in enumerate(buttons):
        button = QPushButton(text)
        button.clicked.connect(lambda _=False, f=slot: f())
        setattr(tab, attr, button)
        row.addWidget(button, i // 3, i % 3)
    row.setColumnStretch(3, 1)
    return row
