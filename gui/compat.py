"""Work-arounds for bugs of the Qt binding, applied once when :mod:`gui` is imported."""
from __future__ import annotations

import sys

__all__ = ["keep_none_alive"]


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
