"""The house plan holds: gui -> study -> engine | gating, Qt only in gui, and the linters say so.

The contracts live in pyproject.toml and `make test` runs them; these tests show that they pass on
the tree, that they catch the breaks they are there for, and that the Qt-free layers really run
where PySide6 cannot be imported at all.
"""
from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
QT_FREE = ("study", "engine", "gating")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    exe = BIN / "lint-imports"
    if not exe.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    return subprocess.run([str(exe), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=300)


def _copy_tree(tmp: Path) -> Path:
    for pkg in ("gui", *QT_FREE):
        shutil.copytree(ROOT / pkg, tmp / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    return tmp


def test_layer_contracts_pass_on_the_tree():
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout


@pytest.mark.parametrize("module, line, contract, edge", [
    ("engine/linalg.py", "import PySide6.QtCore", "Qt only in gui", "engine.linalg -> PySide6"),
    ("gating/gates.py", "import pyqtgraph", "Qt only in gui", "gating.gates -> pyqtgraph"),
    ("engine/linalg.py", "import gating.gates", "Layers", "engine.linalg -> gating.gates"),
    ("gating/gates.py", "import engine.errors", "Layers", "gating.gates -> engine.errors"),
    ("study/errors.py", "import gui.workers", "Layers", "study.errors -> gui.workers"),
    # an import hidden in a function body is found like one at the top of the module
    ("engine/linalg.py", "def _hidden():\n    import PySide6.QtWidgets", "Qt only in gui", "engine.linalg -> PySide6"),
])
def test_a_forbidden_import_breaks_the_contracts(tmp_path, module, line, contract, edge):
    """Each contract fails for the import it exists to stop, naming the module that made it."""
    root = _copy_tree(tmp_path)
    target = root / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # deliberately against the plan\n",
                      encoding="utf-8")
    out = _lint_imports(root)
    assert out.returncode != 0
    broken = [ln for ln in out.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(ln.startswith(contract) for ln in broken), out.stdout
    assert edge in out.stdout


def test_ruff_passes():
    exe = BIN / "ruff"
    if not exe.exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    out = subprocess.run([str(exe), "check", "--no-cache", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_qt_free_layers_import_and_run_where_pyside6_cannot_be_imported():
    """study/, engine/ and gating/ load every module, and the study layer runs its checks, with
    PySide6, shiboken6 and pyqtgraph made unimportable (as on a headless batch node)."""
    modules = list(QT_FREE)
    for pkg in QT_FREE:
        modules += [f"{pkg}.{m.name}" for m in pkgutil.iter_modules([str(ROOT / pkg)])]
    code = (
        "import importlib, sys\n"
        "for qt in ('PySide6', 'shiboken6', 'pyqtgraph'):\n"
        "    sys.modules[qt] = None  # any import of it now raises ImportError\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "import pandas as pd\n"
        "from study.checks import guess_roles\n"
        "sheet = pd.DataFrame({'Sample': ['S1', 'S2'], 'Age': [30, 40], 'Group': ['a', 'b']})\n"
        "print(sorted(guess_roles(sheet).items()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "('Sample', 'sample_id')" in out.stdout, out.stdout

