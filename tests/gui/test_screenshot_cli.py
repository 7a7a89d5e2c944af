"""``python main.py --demo --screenshot DIR``: the whole demo pipeline offscreen, one PNG per tab, exit 0.

Runs the real entry point in a child process (as a user or the README build would) with the
per-user data folder in ``tmp_path``. The PNGs are also copied to ``$FASTMIX_SCREENSHOT_DIR``
when that is set, for a human to look at.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage

from gui.screenshot import TAB_FILES, WINDOW_SIZE

ROOT = Path(__file__).resolve().parents[2]


def _colours(img: QImage, x0=0, y0=0, x1=None, y1=None, step=5) -> set[int]:
    x1 = img.width() if x1 is None else x1
    y1 = img.height() if y1 is None else y1
    return {img.pixel(x, y) for x in range(x0, x1, step) for y in range(y0, y1, step)}


def _count(img: QImage, test, step=2) -> int:
    n = 0
    for x in range(0, img.width(), step):
        for y in range(0, img.height(), step):
            if test(QColor(img.pixel(x, y))):
                n += 1
    return n


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("screenshot_cli")
    out = tmp / "shots"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FASTMIX_STUDIO_DATA": str(tmp / "userdata"),
           "FASTMIX_STUDIO_SETTINGS": str(tmp / "must-not-be-written.ini")}
    env.pop("FASTMIX_SCREENSHOT_DIR", None)
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "--demo", "--screenshot", str(out)],
                          cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    extra = os.environ.get("FASTMIX_SCREENSHOT_DIR")
    if extra and out.is_dir():
        Path(extra).mkdir(parents=True, exist_ok=True)
        for png in out.glob("*.png"):
            shutil.copy(png, Path(extra) / png.name)
    return proc, out, tmp


def test_exit_code_and_one_png_per_tab(shots):
    proc, out, tmp = shots
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = [out / TAB_FILES[t] for t in ("Gating", "Study", "Analysis", "Results")] + [out / "gating_batch.png"]
    assert [Path(line) for line in proc.stdout.split()] == expected
    images = {}
    for path in expected[:4]:
        img = QImage(str(path))
        assert not img.isNull(), path
        assert (img.width(), img.height()) == WINDOW_SIZE, path
        assert path.stat().st_size > 40_000, path       # a real window, not a blank grab
        assert len(_colours(img)) > 40, path            # text, tables, plots: many colours
        images[path.name] = img
    # four different tabs, not the same one four times
    raw = {name: bytes(img.constBits()) for name, img in images.items()}
    assert len(set(raw.values())) == 4
    # the demo was generated in the given user-data folder; the user's settings were not touched
    assert (tmp / "userdata" / "demo" / "demo.fmsproj").is_file()
    assert not (tmp / "must-not-be-written.ini").exists()
    assert not list((tmp / "userdata").rglob("*.recovery"))


def test_gating_png_shows_density_and_gate(shots):
    _, out, _ = shots
    img = QImage(str(out / "gating.png"))
    # the density plot is in the middle third: viridis colours (dark purple .. yellow) in quantity
    w = img.width()
    plot = _colours(img, w // 6, 120, 2 * w // 3, img.height() - 120, step=3)
    assert len(plot) > 60
    centre = img.copy(w // 6, 120, w // 2, img.height() - 240)   # the plot, not the lists/tree beside it
    viridis = _count(centre, lambda c: c.green() > 120 and c.blue() > 100 and c.red() < 80)  # teal/green bins
    assert viridis > 300
    gate_red = _count(centre, lambda c: c.red() > 180 and c.green() < 60 and c.blue() < 60)   # gate outline
    assert gate_red > 100


def test_results_png_shows_volcano_points(shots):
    _, out, _ = shots
    img = QImage(str(out / "results.png"))
    right = img.copy(img.width() * 2 // 3, 0, img.width() // 3, img.height())
    red = _count(right, lambda c: c.red() > 170 and c.green() < 90 and c.blue() < 90)
    blue = _count(right, lambda c: c.blue() > 150 and c.red() < 110 and c.green() < 140)
    assert red > 50 and blue > 50          # up- and down-regulated hits on the volcano


def test_batch_png_is_the_counts_table(shots):
    _, out, _ = shots
    img = QImage(str(out / "gating_batch.png"))
    assert img.width() >= 1000 and img.height() >= 450
    assert len(_colours(img)) > 10


def test_screenshot_needs_demo(capsys):
    from gui.app import main

    with pytest.raises(SystemExit) as exc:
        main(["--screenshot", "somewhere"])
    assert exc.value.code == 2
    assert "--screenshot needs --demo" in capsys.readouterr().err
