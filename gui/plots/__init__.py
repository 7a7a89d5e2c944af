"""Plot widgets of the Gating tab: density images and gate ROIs (pyqtgraph)."""
