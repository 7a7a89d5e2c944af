"""Plot widgets of the Gating tab: density images and gate ROIs (pyqtgraph).

Importing this package also applies :func:`guard_bool_refcounts` (see there).
"""
from __future__ import annotations

import sys


def guard_bool_refcounts() -> None:
    """Work around a PySide6 6.12 refcount bug: every Python ``Signal.emit()`` drops one
    reference to ``True`` (measured: ``sys.getrefcount(True)`` falls by 1 per emit, whatever
    the arguments). After a few thousand emits CPython 3.11 aborts with "Fatal Python error:
    bool_dealloc". ``True``/``False`` are static objects that are never freed, so giving them a
    huge reference count (what Python 3.12 does by making them immortal) is harmless.
    """
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return
    import ctypes

    for obj in (True, False):
        ref = ctypes.c_ssize_t.from_address(id(obj))
        if ref.value < (1 << 40):
            ref.value += 1 << 40


guard_bool_refcounts()
