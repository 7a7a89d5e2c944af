"""engine/ and gating/ are plain libraries: importing them must never load Qt."""
from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _all_modules(package: str) -> list[str]:
    pkg_dir = ROOT / package
    return [package] + [f"{package}.{m.name}" for m in pkgutil.iter_modules([str(pkg_dir)])]


def test_engine_and_gating_never_import_qt():
    modules = _all_modules("engine") + _all_modules("gating")
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'shiboken6'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"Qt loaded by engine/gating: {out.stdout.strip()}"


def test_main_window_has_pipeline_tabs(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTMIX_STUDIO_SETTINGS", str(tmp_path / "settings.ini"))  # never the user's home
    monkeypatch.setenv("FASTMIX_STUDIO_DATA", str(tmp_path / "data"))
    from gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    names = [win.tabs.tabText(i) for i in range(win.tabs.count())]
    assert names[:4] == ["Gating", "Study", "Analysis", "Results"]
