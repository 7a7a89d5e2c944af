"""Population tree model: structure, counts, edit signals, qtmodeltester."""
from __future__ import annotations

from PySide6.QtCore import Qt

from gui.models.population_tree import PopulationTreeModel

PARENTS = {"Singlets": None, "Leukocytes": "Singlets", "Live": "Leukocytes",
           "Neutrophils": "Live", "Lymphocytes": "Live"}
COUNTS = {"Singlets": (900, 1000), "Leukocytes": (800, 900), "Live": (600, 800),
          "Neutrophils": (300, 600), "Lymphocytes": (150, 600)}


def _model():
    m = PopulationTreeModel()
    m.set_populations(PARENTS, counts=COUNTS, total=1000, modes={"Neutrophils": "cluster"},
                      recluster={"Live"})
    return m


def test_structure_and_counts(qtmodeltester):
    m = _model()
    qtmodeltester.check(m)
    assert m.rowCount() == 1
    root = m.index(0, 0)
    assert m.data(root) == "All events" and m.data(m.index(0, 1)) == "1,000"
    live = m.index_of("Live")
    assert m.rowCount(live) == 2
    assert m.data(m.index_of("Neutrophils", 1)) == "300"
    assert m.data(m.index_of("Neutrophils", 2)) == "50.0"
    assert m.data(m.index_of("Lymphocytes", 2)) == "25.0"
    assert m.data(m.index_of("Neutrophils", 3)) == "DAFi cluster"
    assert m.data(m.index_of("Live", 4), Qt.CheckStateRole) == Qt.Checked
    assert m.population_id(m.parent(m.index_of("Neutrophils"))) == "Live"
    assert m.is_descendant("Neutrophils", "Leukocytes")
    assert not m.is_descendant("Singlets", "Live")


def test_edits_emit_requests(qtbot, qtmodeltester):
    m = _model()
    got = []
    m.rename_requested.connect(lambda a, b: got.append(("rename", a, b)))
    m.mode_requested.connect(lambda a, b: got.append(("mode", a, b)))
    m.recluster_requested.connect(lambda a, b: got.append(("re", a, b)))
    m.reparent_requested.connect(lambda a, b: got.append(("parent", a, b)))
    assert m.setData(m.index_of("Live"), "Viable")
    assert not m.setData(m.index_of("Live"), "Singlets")  # name taken
    assert m.setData(m.index_of("Live", 3), "slope")
    assert m.setData(m.index_of("Neutrophils", 4), Qt.Checked, Qt.CheckStateRole)
    mime = m.mimeData([m.index_of("Lymphocytes")])
    m.dropMimeData(mime, Qt.MoveAction, -1, -1, m.index_of("Leukocytes"))
    mime = m.mimeData([m.index_of("Leukocytes")])
    m.dropMimeData(mime, Qt.MoveAction, -1, -1, m.index_of("Neutrophils"))  # into own child: refused
    assert got == [("rename", "Live", "Viable"), ("mode", "Live", "slope"),
                   ("re", "Neutrophils", True), ("parent", "Lymphocytes", "Leukocytes")]
    assert m.data(m.index_of("Live", 3)) == "slope"
    qtmodeltester.check(m)
