"""Gating-ML 2.0 read and write (ISAC standard: gating, transformations and data-type namespaces).

``read_gatingml`` accepts a path or the XML text; ``write_gatingml`` writes it.
FlowJo-only transforms (biex) have no Gating-ML 2.0 form and are refused on export;
a FlowJo log axis is written as the equivalent ``flog`` with ``boundMin=0``.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from .compensation import UNCOMPENSATED, Compensation
from .errors import InputError
from .gates import (
    BooleanGate,
    Dimension,
    Divider,
    EllipsoidGate,
    Gate,
    PolygonGate,
    Quadrant,
    QuadrantGate,
    RangeGate,
    RectangleGate,
)
from .strategy import GatingStrategy
from .transforms import (
    AsinhTransform,
    FlowJoLogTransform,
    HyperlogTransform,
    LinearTransform,
    LogicleTransform,
    LogTransform,
    RatioTransform,
    Transform,
)

__all__ = ["read_gatingml", "write_gatingml", "to_gatingml_string", "NS"]

NS = {
    "gating": "http://www.isac-net.org/std/Gating-ML/v2.0/gating",
    "transforms": "http://www.isac-net.org/std/Gating-ML/v2.0/transformations",
    "data-type": "http://www.isac-net.org/std/Gating-ML/v2.0/datatypes",
}
_G, _T, _D = (f"{{{NS[k]}}}" for k in ("gating", "transforms", "data-type"))
_XSI = "http://www.w3.org/2001/XMLSchema-instance"


# --- reading ----------------------------------------------------------------------------------------

def _attr(el: ET.Element, ns: str, name: str, default: Any = None) -> Any:
    """Attribute by namespaced name, tolerating files that omit the prefix."""
    v = el.get(ns + name)
    if v is None:
        v = el.get(name)
    return default if v is None else v


def _float(el: ET.Element, ns: str, name: str, default: float | None = None, where: str = "") -> float | None:
    v = _attr(el, ns, name)
    if v is None:
        return default
    try:
        return float(v)
    except ValueError:
        raise InputError(f"{where}: attribute '{name}' = {v!r} is not a number") from None


def _comp_ref(v: str | None) -> str | None:
    return None if v in (None, "", UNCOMPENSATED) else v


def _dimension(el: ET.Element, where: str) -> Dimension:
    comp = _comp_ref(_attr(el, _G, "compensation-ref"))
    tref = _attr(el, _G, "transformation-ref")
    fcs = el.find(_D + "fcs-dimension")
    if fcs is not None:
        return Dimension(_attr(fcs, _D, "name"), comp, tref)
    new = el.find(_D + "new-dimension")
    if new is not None:
        return Dimension(_attr(new, _D, "transformation-ref"), comp, tref, ratio=True)
    raise InputError(f"{where}: dimension without fcs-dimension or new-dimension")


def _values(parent: ET.Element, tag: str) -> list[float]:
    return [float(_attr(c, _D, "value")) for c in parent.findall(tag)]


def _parse_transform(el: ET.Element) -> Transform:
    tid = _attr(el, _T, "id")
    where = f"transformation '{tid}'"
    bounds = {"bound_min": _float(el, _T, "boundMin", where=where), "bound_max": _float(el, _T, "boundMax", where=where)}
    for child in el:
        tag = child.tag
        f = lambda n, d=None: _float(child, _T, n, d, where)  # noqa: E731
        if tag == _T + "flin":
            return LinearTransform(tid, t=f("T"), a=f("A", 0.0), **bounds)
        if tag == _T + "flog":
            return LogTransform(tid, t=f("T"), m=f("M"), **bounds)
        if tag == _T + "fasinh":
            return AsinhTransform(tid, t=f("T"), m=f("M"), a=f("A", 0.0), **bounds)
        if tag == _T + "logicle":
            return LogicleTransform(tid, t=f("T"), w=f("W"), m=f("M"), a=f("A", 0.0), **bounds)
        if tag == _T + "hyperlog":
            return HyperlogTransform(tid, t=f("T"), w=f("W"), m=f("M"), a=f("A", 0.0), **bounds)
        if tag == _T + "fratio":
            chans = [_attr(c, _D, "name") for c in child.findall(_D + "fcs-dimension")]
            if len(chans) != 2:
                raise InputError(f"{where}: fratio needs two fcs-dimension elements")
            return RatioTransform(tid, channels=tuple(chans), a=f("A"), b=f("B"), c=f("C"), **bounds)
    raise InputError(f"{where}: unsupported or missing transform element")


def _parse_spectrum(el: ET.Element) -> Compensation:
    cid = _attr(el, _T, "id")
    fl = el.find(_T + "fluorochromes")
    de = el.find(_T + "detectors")
    fluor = [_attr(c, _D, "name") for c in (fl if fl is not None else [])]
    det = [_attr(c, _D, "name") for c in (de if de is not None else [])]
    rows = [[float(_attr(c, _T, "value")) for c in s.findall(_T + "coefficient")] for s in el.findall(_T + "spectrum")]
    m = np.array(rows, dtype=np.float64)
    inverted = str(_attr(el, _T, "matrix-inverted-already", "false")).lower() == "true"
    if inverted and m.shape != (len(det), len(fluor)) and m.T.shape == (len(det), len(fluor)):
        m = m.T
    return Compensation(cid, tuple(det), tuple(fluor), m, inverted=inverted)


def _element_name(el: ET.Element) -> str:
    """``PolygonGate 'P1'``: local tag name and id of a Gating-ML element, for messages."""
    tag = el.tag.rsplit("}", 1)[-1]
    eid = _attr(el, _G, "id") or _attr(el, _T, "id")
    return f"{tag} '{eid}'" if eid else tag


def _parse_gate(el: ET.Element) -> Gate:
    tag = el.tag[len(_G):]
    gid = _attr(el, _G, "id")
    parent = _attr(el, _G, "parent_id")
    where = f"gate '{gid}'"
    if tag == "RectangleGate":
        dims_el = el.findall(_G + "dimension")
        dims = [_dimension(d, where) for d in dims_el]
        mins = [_float(d, _G, "min", where=where) for d in dims_el]
        maxs = [_float(d, _G, "max", where=where) for d in dims_el]
        cls = RangeGate if len(dims) == 1 else RectangleGate
        return cls(gid, parent, tuple(dims), tuple(mins), tuple(maxs))
    if tag == "PolygonGate":
        dims = [_dimension(d, where) for d in el.findall(_G + "dimension")]
        verts = [tuple(_values(v, _G + "coordinate")) for v in el.findall(_G + "vertex")]
        return PolygonGate(gid, parent, tuple(dims), tuple(verts))
    if tag == "EllipsoidGate":
        missing = [c for c in ("mean", "covarianceMatrix", "distanceSquare") if el.find(_G + c) is None]
        if missing:
            raise InputError(f"{where}: ellipsoid gate without {', '.join(missing)}")
        dims = [_dimension(d, where) for d in el.findall(_G + "dimension")]
        mean = _values(el.find(_G + "mean"), _G + "coordinate")
        cov = [_values(r, _G + "entry") for r in el.find(_G + "covarianceMatrix").findall(_G + "row")]
        ds = el.find(_G + "distanceSquare")
        return EllipsoidGate(gid, parent, tuple(dims), tuple(mean), tuple(map(tuple, cov)),
                             float(_attr(ds, _D, "value")))
    if tag == "QuadrantGate":
        dims, divs = [], []
        for d in el.findall(_G + "divider"):
            dims.append(_dimension(d, where))
            divs.append(Divider(_attr(d, _G, "id"), tuple(float(v.text) for v in d.findall(_G + "value"))))
        quads = []
        for q in el.findall(_G + "Quadrant"):
            pos = tuple((_attr(p, _G, "divider_ref"), float(_attr(p, _G, "location"))) for p in q.findall(_G + "position"))
            quads.append(Quadrant(_attr(q, _G, "id"), pos))
        return QuadrantGate(gid, parent, tuple(dims), tuple(divs), tuple(quads))
    if tag == "BooleanGate":
        for op in ("and", "or", "not"):
            body = el.find(_G + op)
            if body is not None:
                refs = tuple((_attr(r, _G, "ref"),
                              str(_attr(r, _G, "use-as-complement", "false")).lower() == "true")
                             for r in body.findall(_G + "gateReference"))
                return BooleanGate(gid, parent, (), op, refs)
        raise InputError(f"{where}: Boolean gate without and/or/not")
    raise InputError(f"{where}: unsupported Gating-ML element '{tag}'")


def read_gatingml(path_or_text: str | os.PathLike) -> GatingStrategy:
    """Parse a Gating-ML 2.0 document (file path or XML text) into a ``GatingStrategy``."""
    src = str(path_or_text)
    name = "Gating-ML text"
    try:
        if src.lstrip().startswith("<"):
            root = ET.fromstring(src)
        else:
            name = Path(src).name
            root = ET.parse(src).getroot()
    except ET.ParseError as e:
        raise InputError(f"not valid XML ({e})", file=name) from None
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", file=name) from None
    if root.tag != _G + "Gating-ML":
        raise InputError("not a Gating-ML 2.0 document (root element is not gating:Gating-ML)", file=name)
    gates, transforms, comps = [], [], []
    for el in root:
        if not isinstance(el.tag, str):
            continue
        try:
            if el.tag == _T + "transformation":
                transforms.append(_parse_transform(el))
            elif el.tag == _T + "spectrumMatrix":
                comps.append(_parse_spectrum(el))
            elif el.tag.startswith(_G) and el.tag.endswith("Gate"):
                gates.append(_parse_gate(el))
        except InputError as e:  # element errors: add the file name
            if e.file:
                raise
            raise InputError(e.message, file=name, hint=e.hint) from None
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
            raise InputError(f"{_element_name(el)}: malformed element ({e or type(e).__name__})", file=name) from None
    try:
        return GatingStrategy(gates, transforms, comps)
    except ValueError as e:
        raise InputError(str(e), file=name) from None


# --- writing ----------------------------------------------------------------------------------------

def _num(v: float) -> str:
    return repr(float(v))


def _write_dim_content(parent: ET.Element, dim: Dimension) -> None:
    if dim.ratio:
        ET.SubElement(parent, _D + "new-dimension", {_D + "transformation-ref": dim.channel})
    else:
        ET.SubElement(parent, _D + "fcs-dimension", {_D + "name": dim.channel})


def _dim_attrs(dim: Dimension) -> dict[str, str]:
    a = {_G + "compensation-ref": dim.compensation_ref or UNCOMPENSATED}
    if dim.transform_ref is not None:
        a[_G + "transformation-ref"] = dim.transform_ref
    return a


def _write_transform(root: ET.Element, t: Transform) -> None:
    attrs = {_T + "id": t.id}
    bmin, bmax = t.bound_min, t.bound_max
    if isinstance(t, FlowJoLogTransform):
        t = LogTransform(t.id, t=t.offset * 10.0 ** t.decades, m=t.decades)
        bmin = 0.0 if bmin is None else max(bmin, 0.0)
    if bmin is not None:
        attrs[_T + "boundMin"] = _num(bmin)
    if bmax is not None:
        attrs[_T + "boundMax"] = _num(bmax)
    el = ET.SubElement(root, _T + "transformation", attrs)
    p = lambda **kw: {_T + k: _num(v) for k, v in kw.items()}  # noqa: E731
    if isinstance(t, LinearTransform):
        ET.SubElement(el, _T + "flin", p(T=t.t, A=t.a))
    elif isinstance(t, LogTransform):
        ET.SubElement(el, _T + "flog", p(T=t.t, M=t.m))
    elif isinstance(t, AsinhTransform):
        ET.SubElement(el, _T + "fasinh", p(T=t.t, M=t.m, A=t.a))
    elif isinstance(t, LogicleTransform):
        ET.SubElement(el, _T + "logicle", p(T=t.t, W=t.w, M=t.m, A=t.a))
    elif isinstance(t, HyperlogTransform):
        ET.SubElement(el, _T + "hyperlog", p(T=t.t, W=t.w, M=t.m, A=t.a))
    elif isinstance(t, RatioTransform):
        r = ET.SubElement(el, _T + "fratio", p(A=t.a, B=t.b, C=t.c))
        for c in t.channels:
            ET.SubElement(r, _D + "fcs-dimension", {_D + "name": c})
    else:
        kind = {"biex": "FlowJo biex", "flowjo_display": "FlowJo display channels"}.get(t.kind, type(t).__name__)
        raise ValueError(f"transform '{t.id}' ({kind}) has no Gating-ML 2.0 equivalent; "
                         "change it to logicle or arcsinh before exporting")


def _write_spectrum(root: ET.Element, c: Compensation) -> None:
    attrs = {_T + "id": c.id}
    if c.inverted:
        attrs[_T + "matrix-inverted-already"] = "true"
    el = ET.SubElement(root, _T + "spectrumMatrix", attrs)
    for tag, names in (("fluorochromes", c.fluorochromes), ("detectors", c.detectors)):
        sub = ET.SubElement(el, _T + tag)
        for n in names:
            ET.SubElement(sub, _D + "fcs-dimension", {_D + "name": n})
    for row in c.matrix:
        s = ET.SubElement(el, _T + "spectrum")
        for v in row:
            ET.SubElement(s, _T + "coefficient", {_T + "value": _num(v)})


def _coord(parent: ET.Element, tag: str, v: float) -> None:
    ET.SubElement(parent, _G + tag, {_D + "value": _num(v)})


def _write_gate(root: ET.Element, g: Gate) -> None:
    attrs = {_G + "id": g.id}
    if g.parent_id is not None:
        attrs[_G + "parent_id"] = g.parent_id
    if isinstance(g, RectangleGate):
        el = ET.SubElement(root, _G + "RectangleGate", attrs)
        for d, lo, hi in zip(g.dimensions, g.mins, g.maxs):
            a = _dim_attrs(d)
            if lo is not None:
                a[_G + "min"] = _num(lo)
            if hi is not None:
                a[_G + "max"] = _num(hi)
            _write_dim_content(ET.SubElement(el, _G + "dimension", a), d)
    elif isinstance(g, PolygonGate):
        el = ET.SubElement(root, _G + "PolygonGate", attrs)
        for d in g.dimensions:
            _write_dim_content(ET.SubElement(el, _G + "dimension", _dim_attrs(d)), d)
        for vx in g.vertices:
            v = ET.SubElement(el, _G + "vertex")
            for c in vx:
                _coord(v, "coordinate", c)
    elif isinstance(g, EllipsoidGate):
        el = ET.SubElement(root, _G + "EllipsoidGate", attrs)
        for d in g.dimensions:
            _write_dim_content(ET.SubElement(el, _G + "dimension", _dim_attrs(d)), d)
        mean = ET.SubElement(el, _G + "mean")
        for c in g.mean:
            _coord(mean, "coordinate", c)
        cov = ET.SubElement(el, _G + "covarianceMatrix")
        for row in g.covariance:
            r = ET.SubElement(cov, _G + "row")
            for c in row:
                _coord(r, "entry", c)
        ET.SubElement(el, _G + "distanceSquare", {_D + "value": _num(g.distance_square)})
    elif isinstance(g, QuadrantGate):
        el = ET.SubElement(root, _G + "QuadrantGate", attrs)
        for d, div in zip(g.dimensions, g.dividers):
            de = ET.SubElement(el, _G + "divider", {_G + "id": div.id, **_dim_attrs(d)})
            _write_dim_content(de, d)
            for v in div.values:
                ET.SubElement(de, _G + "value").text = _num(v)
        for q in g.quadrants:
            qe = ET.SubElement(el, _G + "Quadrant", {_G + "id": q.id})
            for div_id, loc in q.positions:
                ET.SubElement(qe, _G + "position", {_G + "divider_ref": div_id, _G + "location": _num(loc)})
    elif isinstance(g, BooleanGate):
        el = ET.SubElement(root, _G + "BooleanGate", attrs)
        body = ET.SubElement(el, _G + g.op)
        for ref, comp in g.refs:
            a = {_G + "ref": ref}
            if comp:
                a[_G + "use-as-complement"] = "true"
            ET.SubElement(body, _G + "gateReference", a)
    else:  # pragma: no cover - all gate classes handled above
        raise ValueError(f"cannot export gate type {type(g).__name__}")


def to_gatingml_string(strategy: GatingStrategy) -> str:
    """The strategy as a Gating-ML 2.0 XML document (text)."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    ET.register_namespace("xsi", _XSI)
    root = ET.Element(_G + "Gating-ML")
    for t in strategy.transforms.values():
        _write_transform(root, t)
    for c in strategy.compensations.values():
        _write_spectrum(root, c)
    for g in strategy.gates.values():
        _write_gate(root, g)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_gatingml(strategy: GatingStrategy, path: str | os.PathLike) -> None:
    """Write the strategy as Gating-ML 2.0 (UTF-8) to ``path`` as given.

    The application writes it atomically by passing a temporary path (``study.files.atomic_path``).
    """
    Path(path).write_text(to_gatingml_string(strategy), encoding="utf-8", newline="\n")
