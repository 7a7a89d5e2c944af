"""Every item model of the GUI passes the model testers: indexes, parents, row counts, data roles
and the signals around resets, sorting and filtering are consistent.

``check`` attaches Qt's C++ ``QAbstractItemModelTester`` (it logs "FAIL!" warnings, which
pytest-qt turns into a test failure) and pytest-qt's Python tester (which raises); the last test
shows that a model with an inconsistent tree is caught.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.modeltest import ModelTester

from gating.simulate import simulate_whole_blood, whole_blood_template
from gui.models.population_tree import PopulationTreeModel
from gui.models.results_model import ResultsFilterProxyModel, ResultsTableModel
from gui.models.role_mapping import RoleMappingModel
from gui.models.sample_list import SampleListModel
from gui.models.table_model import DataFrameModel


@pytest.fixture
def check():
    """``check(model)`` attaches Qt's C++ tester and pytest-qt's Python tester to ``model``; both
    re-check on every signal until the test ends, and the test fails on any complaint."""
    testers = []

    def run(model) -> None:
        testers.append(QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Warning))
        python = ModelTester(None)
        python.check(model, force_py=True)  # raises now, or in the event loop (pytest-qt fails the test)
        testers.append(python)

    yield run


def _term_frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    p = rng.uniform(1e-6, 1, n)
    return pd.DataFrame({"gene": [f"G{i}" for i in range(n)], "coefficient": rng.normal(size=n),
                         "random_effect": rng.normal(size=n), "quasi_p": p, "quasi_fdr": np.minimum(1, p * 3),
                         "fdr": np.minimum(1, p * 2), "rank": np.argsort(np.argsort(p)) + 1})


def test_dataframe_model_with_text_numbers_and_missing_values(check):
    frame = pd.DataFrame({"a": [1.5, np.nan, -2.0], "b": ["x", None, "=SUM(A1)"], "c": [True, False, True]},
                         index=["S1", "S2", "S3"])
    model = DataFrameModel(frame)
    check(model)
    model.sort(0, Qt.SortOrder.DescendingOrder)
    model.set_frame(None)


def test_results_table_and_its_filter_proxy(check):
    source = ResultsTableModel(_term_frame(), descriptions={"fdr": "calibrated FDR"})
    check(source)
    proxy = ResultsFilterProxyModel()
    proxy.setSourceModel(source)
    check(proxy)
    proxy.set_fdr_threshold(0.3)
    proxy.set_gene_filter("G1")
    assert 0 < proxy.rowCount() < source.rowCount()
    proxy.sort(3, Qt.SortOrder.AscendingOrder)


def test_role_mapping_model(check):
    sheet = pd.DataFrame({"Sample": ["S1", "S2", "S3"], "Age": [30, 41, 52], "Group": ["a", "b", "a"]})
    model = RoleMappingModel()
    model.set_sheet(sheet, {"Sample": "sample_id", "Age": "continuous", "Group": "categorical"}, {"Group": "a"})
    check(model)
    model.set_role("Group", "ignore")


def test_population_tree_model(check):
    strategy = whole_blood_template()
    sample, _ = simulate_whole_blood(2000, seed=1)
    res = strategy.evaluate(sample)
    parents = {pid: strategy.gates[pid].parent_id for pid in strategy.population_ids()}
    counts = {pid: (int(res.count(pid)), int(res.count(parents[pid])) if parents[pid] else 2000)
              for pid in parents}
    model = PopulationTreeModel()
    model.set_populations(parents, counts=counts, total=2000, modes={"Monocytes": "dafi"}, recluster={"Monocytes"})
    check(model)
    model.set_dafi({"Monocytes": (50, 48)})


def test_sample_list_model(check):
    sample, _ = simulate_whole_blood(500, seed=2)
    model = SampleListModel()
    model.set_samples({"donor1": sample, "broken": "broken.fcs: not an FCS file", "donor2": None}, reading={"donor2"})
    check(model)
    assert model.ok_names() == ["donor1"]


class _InconsistentTree(QAbstractItemModel):
    """Each top row claims two children whose parent() says they are top-level rows."""

    def rowCount(self, parent=QModelIndex()):  # noqa: B008
        return 2 if not parent.isValid() or parent.internalId() == 0 else 0

    def columnCount(self, parent=QModelIndex()):  # noqa: B008
        return 1

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        return "x" if role == Qt.ItemDataRole.DisplayRole else None

    def index(self, row, column, parent=QModelIndex()):  # noqa: B008
        return self.createIndex(row, column, 0 if not parent.isValid() else 1)

    def parent(self, index=QModelIndex()):  # noqa: B008
        return QModelIndex()


def test_the_check_catches_a_broken_model():
    """The Python tester raises on an inconsistent tree. (Attaching Qt's C++ tester to it logs
    "FAIL!", and pytest-qt then fails the test as "Qt modeltester errors": tried while writing
    this file, which is why ``check`` may rely on it.)"""
    with pytest.raises(AssertionError):
        ModelTester(None).check(_InconsistentTree(), force_py=True)
