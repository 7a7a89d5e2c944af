"""Pieces of the Gating tab (``gui.gating_tab.GatingTab``): widget construction, gate-tree edits
and the background jobs (DAFi, auto-tune, apply to all). The state and computations they bind to
are Qt-free, in :mod:`study.gating_session`."""
