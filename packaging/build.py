"""Build the standalone bundle: ``python packaging/build.py [--onefile]``.

Produces ``dist/FastMixStudio/`` (one-folder; starts fast) from ``packaging/FastMixStudio.spec``.
The icon (.ico/.icns) and the Windows version resource are generated here from
``resources/icons/fastmix-studio.svg`` and the version in ``pyproject.toml``, so the spec
stays the same on every platform. Nothing from ``../shared`` goes into the bundle.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "packaging"


def project_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]["version"]


def render_icon(out_dir: Path) -> Path:
    """Render the SVG icon to .ico (Windows/Linux) or .png→.icns (macOS) with Qt."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841
    renderer = QSvgRenderer(str(ROOT / "resources" / "icons" / "fastmix-studio.svg"))
    image = QImage(256, 256, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    suffix = ".icns" if sys.platform == "darwin" else ".ico"
    path = out_dir / f"fastmix-studio{suffix}"
    if not image.save(str(path)):  # icns writer may be missing: fall back to png
        path = out_dir / "fastmix-studio.png"
        image.save(str(path))
    return path


def version_resource(version: str, out_dir: Path) -> Path:
    """A Windows VERSIONINFO file for PyInstaller (ignored on other platforms)."""
    parts = (version.split(".") + ["0", "0", "0"])[:4]
    nums = ", ".join(str(int("".join(c for c in p if c.isdigit()) or 0)) for p in parts)
    text = f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers=({nums}), prodvers=({nums}), mask=0x3f, flags=0x0, OS=0x40004,
                    fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[StringFileInfo([StringTable('040904B0', [
      StringStruct('CompanyName', 'FastMix Studio developers'),
      StringStruct('FileDescription', 'FastMix Studio'),
      StringStruct('FileVersion', '{version}'),
      StringStruct('ProductName', 'FastMix Studio'),
      StringStruct('ProductVersion', '{version}')])]),
        VarFileInfo([VarStruct('Translation', [1033, 1200])])]
)
"""
    path = out_dir / "version_info.txt"
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--onefile", action="store_true", help="single-file build (slower start)")
    parser.add_argument("--log-level", default="WARN", help="PyInstaller log level (default WARN)")
    args = parser.parse_args(argv)
    BUILD.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["FASTMIX_ICON"] = str(render_icon(BUILD))
    env["FASTMIX_VERSION_FILE"] = str(version_resource(project_version(), BUILD))
    if args.onefile:
        env["ONEFILE"] = "1"
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", args.log_level,
           "--distpath", str(ROOT / "dist"), "--workpath", str(BUILD / "work"),
           str(ROOT / "packaging" / "FastMixStudio.spec")]
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    print(f"build {'ok' if rc == 0 else 'FAILED'} in {time.perf_counter() - start:.1f} s "
          f"-> {ROOT / 'dist' / 'FastMixStudio'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
