"""Qt test hygiene: every test's windows are closed and collected before the next test starts.

Without this, Python's garbage collector may destroy a previous test's pyqtgraph items in the
middle of the next test's widget construction, which crashed the interpreter (segmentation
fault in a ColorBarItem's label) once the suite had grown past ~400 tests.
"""
from __future__ import annotations

import gc

import pytest


@pytest.fixture(autouse=True)
def _collect_widgets_between_tests(qapp):
    yield
    for w in qapp.topLevelWidgets():
        try:
            w.close()
        except (AttributeError, RuntimeError):  # a pyqtgraph widget the test already closed
            pass
    qapp.processEvents()
    gc.collect()
    qapp.processEvents()
