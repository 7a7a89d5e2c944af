"""Work-arounds for the Qt binding and the GIL, applied once when :mod:`gui` is imported."""
from __future__ import annotations

import sys

__all__ = ["GIL_SWITCH_S", "keep_none_alive", "short_gil_switch"]

GIL_SWITCH_S = 0.001


def keep_none_alive() -> bool:
    """Work around a PySide6 6.12 / CPython 3.11 reference-count bug; returns True if applied.

    Each time a Python override of a void C++ virtual returns (``paintEvent``, pyqtgraph's
    ``paint``...), PySide drops one reference to ``None`` (and some bool-returning overrides
    drop one to ``True``). After a few thousand repaints the count reaches zero and Python
    aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"). CPython >= 3.12 makes these
    singletons immortal; on older versions we give them a huge count once per process.
    """
    if sys.version_info >= (3, 12):
        return False
    if not getattr(sys, "_fastmix_none_guard", False):
        import ctypes

        for singleton in (None, True, False):
            ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 60
        sys._fastmix_none_guard = True
    return True


def short_gil_switch() -> float:
    """Let the GUI thread take the GIL back from a busy worker within 1 ms (Python's default: 5 ms).

    A repaint calls Python dozens of times (pyqtgraph paints in Python), and each call waits up
    to the switch interval while a worker thread computes: during an export of 12.6k genes the
    window froze 93-117 ms at 5 ms and 66-78 ms at 1 ms (``benchmarks/bench_export_ui.py``).
    Returns the interval set."""
    sys.setswitchinterval(GIL_SWITCH_S)
    return GIL_SWITCH_S
