"""Qt front end: widgets, item models and workers. It computes no statistics itself."""
from gui.compat import keep_none_alive

keep_none_alive()  # before any widget exists: see gui.compat
