"""Save pyqtgraph plots as PNG and SVG (on the GUI thread: Qt painting is not thread-safe)."""
from __future__ import annotations

import os
from pathlib import Path

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter, SVGExporter
from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsScene

from study.files import atomic_path

PNG_WIDTH = 1600


def _export_source(plot):
    """The item to export: a PlotWidget's PlotItem, a GraphicsLayoutWidget's scene, or the item itself."""
    if hasattr(plot, "export_item"):
        return plot.export_item()
    if isinstance(plot, pg.PlotWidget):
        return plot.getPlotItem()
    if isinstance(plot, pg.GraphicsView):
        return plot.scene()
    return plot


def _atomic(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` and move the finished file onto ``path`` (:mod:`study.files`)."""
    with atomic_path(path) as tmp:
        write(str(tmp))
    return path


def render_image(plot, *, width: int = PNG_WIDTH):
    """``plot`` painted into a QImage ``width`` pixels wide (GUI thread; the PNG encoding, which
    takes most of the time, can then happen anywhere: see :func:`save_png`)."""
    exporter = ImageExporter(_export_source(plot))
    exporter.parameters()["width"] = int(width)
    exporter.parameters()["antialias"] = True
    return exporter.export(toBytes=True)


def save_png(image, path: str | os.PathLike) -> Path:
    """Write a QImage as PNG, atomically (safe in a worker thread: QImage is thread-safe)."""
    def write(tmp: str) -> None:
        if not image.save(tmp, "PNG"):
            raise OSError(f"could not write {Path(path).name}")
    return _atomic(Path(path), write)


def export_png(plot, path: str | os.PathLike, *, width: int = PNG_WIDTH) -> Path:
    """Write ``plot`` as a PNG ``width`` pixels wide."""
    return save_png(render_image(plot, width=width), path)


def _render_svg(source, path: str) -> None:
    """Vector SVG straight from Qt's QSvgGenerator (fallback when pyqtgraph's exporter fails)."""
    scene = source if isinstance(source, QGraphicsScene) else source.scene()
    rect = source.sceneRect() if isinstance(source, QGraphicsScene) else source.sceneBoundingRect()
    generator = QSvgGenerator()
    generator.setFileName(path)
    generator.setSize(QSize(max(1, int(rect.width())), max(1, int(rect.height()))))
    generator.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
    generator.setTitle("FastMix Studio plot")
    painter = QPainter(generator)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        scene.render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
    finally:
        painter.end()


def export_svg(plot, path: str | os.PathLike) -> Path:
    """Write ``plot`` as an SVG (vector; editable in Inkscape/Illustrator).

    pyqtgraph's ``SVGExporter`` is tried first; it cannot parse the closed paths ('Z') that
    Qt >= 6.8 writes, so on failure the scene is rendered directly with ``QSvgGenerator``.
    """
    source = _export_source(plot)

    def write(tmp: str) -> None:
        try:
            SVGExporter(source).export(tmp)
        except (ValueError, IndexError):
            _render_svg(source, tmp)

    return _atomic(Path(path), write)


def export_plot(plot, folder: str | os.PathLike, stem: str) -> list[Path]:
    """Write ``<folder>/<stem>.png`` and ``<folder>/<stem>.svg``; returns both paths."""
    folder = Path(folder)
    return [export_png(plot, folder / f"{stem}.png"), export_svg(plot, folder / f"{stem}.svg")]


def safe_stem(name: str) -> str:
    """A file-name-safe version of a term or gene name (keeps letters, digits, '.', '-', '_')."""
    out = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(name)).strip("._")
    return out or "plot"
