"""Qt front end: widgets, item models and workers. It computes no statistics itself."""
from gui.compat import keep_none_alive, short_gil_switch

keep_none_alive()  # before any widget exists: see gui.compat
short_gil_switch()  # workers never hold the GUI thread off for long: see gui.compat
