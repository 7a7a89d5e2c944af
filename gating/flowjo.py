"""FlowJo 10 workspace (``.wsp``) import: gates, channel transforms and compensation of one sample.

FlowJo stores gate coordinates in raw (untransformed) data units, but draws and applies
gates on the display scale of each channel. On import every gate dimension therefore
gets the sample's transform for that channel (``transform_ref`` = channel name) and the
gate's coordinates are transformed onto that scale, so polygons and ellipses keep the
shape the user drew. FlowJo ellipses (foci + four edge points) become exact
``EllipsoidGate`` s on the display scale. Gates with ``eventsInside="0"`` become a hidden
inner gate (``<name> (inside)``) plus a ``not`` Boolean gate carrying the population name.

Counts can differ from the ``count`` FlowJo stores in the workspace: FlowJo evaluates
polygon (and ellipse) gates on binned display data (``gateResolution``, typically 256
bins per axis), whereas this engine tests every event exactly. The FlowKit example
``simple_poly_and_rect_v2_poly50.wsp`` shows it: its polygon holds 50 of the 100 events
exactly, while FlowJo stored a count of 0.

FlowJo 9 (Mac) XML workspaces are read too: their per-sample ``<Parameter>`` display
settings give the biex (via the referenced calibration table's decades/width, same
algorithm as FlowJo 10 biex) or log scale, the workspace ``<CompensationMatrix>`` gives
the compensation (channels written ``<name>``), and Polygon/PolyRect/Range/Ellipse gates
are converted like FlowJo 10 gates. "Magnetic" gates are imported as stored for the
sample; counts agree with FlowJo's within a few events (display binning).
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import InputError

from .compensation import Compensation
from .gates import BooleanGate, Dimension, EllipsoidGate, Gate, PolygonGate, RangeGate, RectangleGate
from .gatingml import NS
from .strategy import GatingStrategy
from .transforms import (AsinhTransform, FlowJoBiexTransform, FlowJoLogTransform, LinearTransform,
                         LogicleTransform, Transform)

__all__ = ["read_wsp", "list_wsp_samples", "wsp_stored_counts"]

_G, _T, _D = (f"{{{NS[k]}}}" for k in ("gating", "transforms", "data-type"))


def _attr(el: ET.Element, ns: str, name: str, default: Any = None) -> Any:
    v = el.get(ns + name)
    if v is None:
        v = el.get(name)
    return default if v is None else v


def _load(path: str | os.PathLike) -> ET.Element:
    name = Path(path).name
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise InputError(f"not a valid FlowJo workspace ({e})", file=name) from None
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", file=name) from None
    if root.tag != "Workspace":
        raise InputError("not a FlowJo workspace (root element is not <Workspace>)", file=name)
    if root.find("SampleList") is None:
        raise InputError("workspace has no <SampleList> (FlowJo 8 and older workspaces are not supported)", file=name)
    return root


def _is_flowjo9(root: ET.Element) -> bool:
    return str(root.get("flowJoVersion", "10")).split(".")[0] in ("7", "8", "9")


def _sample_name(sample_el: ET.Element) -> str:
    node = sample_el.find("SampleNode")
    fil = next((k.get("value") for k in sample_el.iter("Keyword") if k.get("name") == "$FIL"), None)
    if node is not None and node.get("name"):
        name = node.get("name")
        # FlowJo 9 shortens names (two wells can share one); the FCS file name is unique
        if fil and fil != name and Path(fil).stem.startswith(Path(name).stem):
            return fil
        return name
    if fil:
        return fil
    ds = sample_el.find("DataSet")
    return Path(ds.get("uri", "sample")).name if ds is not None else "sample"


def list_wsp_samples(path: str | os.PathLike) -> list[str]:
    """Names of the samples (FCS file names as FlowJo shows them) in a FlowJo 10 workspace."""
    root = _load(path)
    return [_sample_name(s) for s in root.find("SampleList").findall("Sample")]


def _sample_keyword(sample_el: ET.Element, key: str) -> str | None:
    for k in sample_el.iter("Keyword"):
        if k.get("name") == key:
            return k.get("value")
    return None


def _pick_sample(root: ET.Element, sample_name: str | None, path) -> ET.Element:
    samples = root.find("SampleList").findall("Sample")
    if not samples:
        raise InputError("workspace contains no samples", file=Path(path).name)
    if sample_name is None:
        return samples[0]
    want = {sample_name, Path(sample_name).stem}
    for s in samples:
        name = _sample_name(s)
        fil = _sample_keyword(s, "$FIL") or ""
        if want & {name, Path(name).stem, fil, Path(fil).stem}:
            return s
    raise InputError(f"sample '{sample_name}' not in workspace (samples: "
                     f"{', '.join(_sample_name(s) for s in samples)})", file=Path(path).name)


def _parse_transforms(sample_el: ET.Element, where: str) -> dict[str, Transform]:
    out: dict[str, Transform] = {}
    xf = sample_el.find("Transformations")
    if xf is None:
        return out
    for el in xf:
        kind = el.tag.rpartition("}")[2]
        par = el.find(_D + "parameter")
        if par is None:
            continue
        ch = _attr(par, _D, "name")
        f = lambda n, d=None: float(_attr(el, _T, n, d))  # noqa: E731
        if kind == "linear":
            lo, hi = f("minRange", 0.0), f("maxRange", 262144.0)
            out[ch] = LinearTransform(ch, t=hi, a=-lo) if hi != lo else LinearTransform(ch, t=hi or 1.0, a=0.0)
        elif kind == "log":
            out[ch] = FlowJoLogTransform(ch, offset=f("offset", 1.0), decades=f("decades", 4.5))
        elif kind == "fasinh":
            out[ch] = AsinhTransform(ch, t=f("T"), m=f("M"), a=f("A", 0.0))
        elif kind == "logicle":
            out[ch] = LogicleTransform(ch, t=f("T"), w=f("W"), m=f("M"), a=f("A", 0.0))
        elif kind == "biex":
            out[ch] = FlowJoBiexTransform(ch, width=f("width", -10.0), negative=f("neg", 0.0),
                                          positive=f("pos", 4.418540), max_value=f("maxRange", 262144.0))
        else:
            raise InputError(f"channel '{ch}' uses FlowJo transform '{kind}', which is not supported; "
                             "set it to linear, log, biex, logicle or arcsinh in FlowJo", file=where)
    return out


def _parse_compensation(sample_el: ET.Element, where: str) -> tuple[Compensation | None, str, str]:
    mats = sample_el.findall(_T + "spilloverMatrix")
    if not mats:
        return None, "", ""
    m = mats[0]
    name = m.get("name") or m.get(_T + "id") or "FlowJo"
    detectors = [_attr(p, _D, "name") for p in m.find(_D + "parameters").findall(_D + "parameter")]
    rows, row_names, col_names = [], [], []
    for i, sp in enumerate(m.findall(_T + "spillover")):
        row_names.append(_attr(sp, _D, "parameter"))
        coefs = sp.findall(_T + "coefficient")
        rows.append([float(_attr(c, _T, "value")) for c in coefs])
        if i == 0:
            col_names = [_attr(c, _D, "parameter") for c in coefs]
    matrix = np.array(rows, dtype=np.float64)
    if m.get("spectral") == "1":
        comp = Compensation(name, tuple(col_names or detectors), tuple(row_names), matrix)
    else:
        comp = Compensation(name, tuple(col_names or detectors), tuple(row_names or detectors), matrix)
    return comp, m.get("prefix", "Comp-"), m.get("suffix", "")


class _Builder:
    def __init__(self, strategy_transforms: dict[str, Transform], comp: Compensation | None,
                 prefix: str, suffix: str, where: str):
        self.xf, self.comp, self.prefix, self.suffix, self.where = strategy_transforms, comp, prefix, suffix, where
        self.gates: list[Gate] = []
        self.used: set[str] = set()
        self.path_to_id: dict[str, str] = {}
        self.pending_bool: list[tuple[str, str | None, str, list[str], str]] = []

    def unique(self, name: str, parent: str | None = None) -> str:
        """Population id: the FlowJo name, or ``name (parent)`` when the name is already used
        elsewhere in the tree (ids must be unique; FlowJo names need only be unique per parent)."""
        out = name
        if out in self.used and parent:
            out = f"{name} ({parent})"
        base, k = out, 2
        while out in self.used:
            out = f"{base} ({k})"
            k += 1
        self.used.add(out)
        return out

    def dimension(self, raw_name: str) -> tuple[Dimension, Transform | None]:
        name, comp_ref = raw_name, None
        if self.comp is not None:
            stripped = name
            if self.prefix and stripped.startswith(self.prefix):
                stripped = stripped[len(self.prefix):]
            if self.suffix and stripped.endswith(self.suffix):
                stripped = stripped[: -len(self.suffix)]
            if stripped != raw_name and self.comp.channel_for(stripped) is not None:
                name, comp_ref = stripped, self.comp.id
        t = self.xf.get(raw_name) or self.xf.get(name)
        return Dimension(name, comp_ref, None if t is None else t.id), t

    def gate(self, el: ET.Element, gid: str, parent: str | None) -> Gate:
        kind = el.tag.rpartition("}")[2]
        dim_els = el.findall(_G + "dimension")
        dims, xfs = [], []
        for d in dim_els:
            fcs = d.find(_D + "fcs-dimension")
            if fcs is None:
                raise InputError(f"gate '{gid}': dimension without a channel name", file=self.where)
            dim, t = self.dimension(_attr(fcs, _D, "name"))
            dims.append(dim)
            xfs.append(t)

        def tx(j: int, v: float | None) -> float | None:
            if v is None or xfs[j] is None:
                return v
            return float(xfs[j].apply(np.array([v]))[0])

        if kind == "RectangleGate":
            mins = [tx(j, None if _attr(d, _G, "min") is None else float(_attr(d, _G, "min"))) for j, d in enumerate(dim_els)]
            maxs = [tx(j, None if _attr(d, _G, "max") is None else float(_attr(d, _G, "max"))) for j, d in enumerate(dim_els)]
            cls = RangeGate if len(dims) == 1 else RectangleGate
            return cls(gid, parent, tuple(dims), tuple(mins), tuple(maxs))
        if kind == "PolygonGate":
            verts = []
            for v in el.findall(_G + "vertex"):
                c = [float(_attr(x, _D, "value")) for x in v.findall(_G + "coordinate")]
                verts.append(tuple(tx(j, c[j]) for j in range(2)))
            return PolygonGate(gid, parent, tuple(dims), tuple(verts))
        if kind == "EllipsoidGate":
            return self.ellipse(el, gid, parent, dims, xfs)
        raise InputError(f"gate '{gid}': FlowJo gate type '{kind}' is not supported", file=self.where)

    def ellipse(self, el: ET.Element, gid: str, parent: str | None, dims: list[Dimension],
                xfs: list[Transform | None]) -> EllipsoidGate:
        """FlowJo ellipse: foci and edge points in 256-bin display units -> exact ellipse on the transformed scale.

        The major semi-axis comes from the edge points, the minor one from the foci
        (``b^2 = a^2 - c^2``), as FlowJo's own second edge pair is not reliable.
        """
        def pts(tag: str) -> np.ndarray:
            box = el.find(_G + tag)
            return np.array([[float(_attr(x, _D, "value")) for x in v.findall(_G + "coordinate")]
                             for v in ([] if box is None else box.findall(_G + "vertex"))], dtype=np.float64)

        foci, edge = pts("foci"), pts("edge")
        if foci.shape != (2, 2) or edge.shape[0] < 2 or len(dims) != 2:
            raise InputError(f"ellipse gate '{gid}' needs 2 foci and 4 edge points in 2 dimensions", file=self.where)
        for j in range(2):
            if xfs[j] is None:  # FlowJo's default display: linear 0..262144
                t = LinearTransform(dims[j].channel, t=262144.0, a=0.0)
                self.xf.setdefault(t.id, t)
                xfs[j] = self.xf[t.id]
                dims[j] = Dimension(dims[j].channel, dims[j].compensation_ref, xfs[j].id)
        scale = np.array([(4096.0 if isinstance(t, FlowJoBiexTransform) else 1.0) / 256.0 for t in xfs])
        foci, edge = foci * scale, edge * scale
        center = foci.mean(axis=0)
        c = np.linalg.norm(foci[1] - foci[0]) / 2.0
        u = (foci[1] - foci[0]) / (2.0 * c) if c > 0 else (edge[0] - center) / np.linalg.norm(edge[0] - center)
        a = float(np.max(np.abs((edge - center) @ u)))
        b2 = max(a * a - c * c, np.finfo(float).tiny)
        v = np.array([-u[1], u[0]])
        cov = a * a * np.outer(u, u) + b2 * np.outer(v, v)
        return EllipsoidGate(gid, parent, tuple(dims), tuple(center), tuple(map(tuple, cov)), 1.0)

    def walk(self, subpops: ET.Element | None, parent_id: str | None, parent_path: str) -> None:
        if subpops is None:
            return
        for node in subpops:
            tag = node.tag
            if tag not in ("Population", "AndNode", "OrNode", "NotNode"):
                continue
            name = node.get("name", "population")
            path = f"{parent_path}/{name}" if parent_path else name
            gid = self.unique(name, parent_id)
            self.path_to_id[path] = gid
            if tag == "Population":
                gel = node.find("Gate")
                shape = None if gel is None else next((c for c in gel if isinstance(c.tag, str)), None)
                if shape is None:
                    raise InputError(f"population '{path}' has no gate", file=self.where)
                if shape.get("eventsInside", "1") == "0":
                    inner = self.unique(f"{name} (inside)")
                    self.gates.append(self.gate(shape, inner, parent_id))
                    self.gates.append(BooleanGate(gid, parent_id, (), "not", ((inner, False),)))
                else:
                    self.gates.append(self.gate(shape, gid, parent_id))
            else:
                deps = [d.get("name", "") for d in node.iter("Dependent")]
                op = {"AndNode": "and", "OrNode": "or", "NotNode": "not"}[tag]
                self.pending_bool.append((gid, parent_id, op, deps, path))
                self.gates.append(BooleanGate(gid, parent_id, (), op, tuple((d, False) for d in deps) or (("", False),)))
            self.walk(node.find("Subpopulations"), gid, path)

    def resolve_booleans(self) -> None:
        fixed = {}
        for gid, parent, op, deps, path in self.pending_bool:
            refs = []
            for dep in deps:
                ref = self.path_to_id.get(dep.strip("/")) or self.path_to_id.get(dep.rsplit("/", 1)[-1])
                if ref is None:
                    raise InputError(f"Boolean population '{path}' refers to unknown population '{dep}'",
                                     file=self.where)
                refs.append((ref, False))
            fixed[gid] = BooleanGate(gid, parent, (), op, tuple(refs))
        self.gates = [fixed.get(g.id, g) for g in self.gates]


# --- FlowJo 9 ----------------------------------------------------------------------------------------

def _fj9_transforms(root: ET.Element, sample_el: ET.Element) -> dict[str, Transform]:
    tables = list(root.find("CalibrationTables") or [])
    out: dict[str, Transform] = {}
    for p in sample_el.findall("Parameter"):
        name = p.get("name")
        if p.get("log", "0") != "1":
            continue
        idx = p.get("calibrationIndex")
        if idx is not None and 0 < int(idx) <= len(tables):
            t = tables[int(idx) - 1]
            dec = float(t.get("biexponentialDecades", "0"))
            if dec > 0:
                top = float(t.text.rsplit(",", 1)[-1]) if t.text else 262144.0
                out[name] = FlowJoBiexTransform(name, width=float(t.get("biexponentialWidth", "-10")),
                                                negative=float(t.get("biexponentialNegDecades", "0")),
                                                positive=dec, max_value=262144.0 if top > 2 ** 17 else top)
                continue
        low = float(p.get("lowValue", "1"))
        if low <= 0:  # a display range reaching below zero is FlowJo's biex (workspace preferences)
            pref = root.find("Preferences")
            g = (lambda k, d: float(pref.get(k, d)) if pref is not None else float(d))  # noqa: E731
            out[name] = FlowJoBiexTransform(name, width=g("DT_32BitCustomWidth", "-10"),
                                            negative=g("DT_32BitCustomExtra", "0"),
                                            positive=g("DT_32BitCustomDecades", "4.5"), max_value=262144.0)
            continue
        out[name] = FlowJoLogTransform(name, offset=low, decades=float(p.get("decades", "4")) or 4.0)
    return out


def _fj9_compensation(root: ET.Element, sample_el: ET.Element) -> tuple[Compensation | None, str, str]:
    mats = root.find("CompensationMatrices")
    if mats is None or not len(mats):
        return None, "", ""
    wanted = _sample_keyword(sample_el, "FJ_CompMatrixName")
    chosen = next((m for m in mats if m.get("name") == wanted), None)
    if chosen is None:
        if sample_el.get("compensationID") in (None, "0", "-1"):
            return None, "", ""
        chosen = mats[0]
    rows = chosen.findall("Channel")
    fluor = [r.get("name") for r in rows]
    det = [v.get("name") for v in rows[0].findall("ChannelValue")]
    m = np.array([[float(v.get("value")) for v in r.findall("ChannelValue")] for r in rows], dtype=np.float64)
    return Compensation(chosen.get("name"), tuple(det), tuple(fluor), m), chosen.get("prefix", "<"), chosen.get("suffix", ">")


def _fj9_gate(b: "_Builder", holder: ET.Element, gid: str, parent: str | None) -> Gate:
    names = [x.text or "" for x in holder.iter("String")]
    shape = next((c for c in holder if c.tag in ("Polygon", "PolyRect", "Range", "Ellipse", "Rectangle")), None)
    if shape is None:
        raise InputError(f"population '{gid}': unsupported FlowJo 9 gate", file=b.where)
    verts = np.array([[float(v.get("x")), float(v.get("y"))] for v in shape.iter("Vertex")], dtype=np.float64)
    if shape.tag == "Range":
        dim, t = b.dimension(names[0])
        xs = verts[:, 0] if t is None else t.apply(verts[:, 0])
        return RangeGate(gid, parent, (dim,), (float(xs.min()),), (float(xs.max()),))
    dims, xfs = zip(*(b.dimension(n) for n in names[:2]))
    disp = verts.copy()
    for j in range(2):
        if xfs[j] is not None:
            disp[:, j] = xfs[j].apply(verts[:, j])
    if shape.tag == "Ellipse":
        center = disp.mean(axis=0)
        major, minor = disp[1] - disp[0], disp[3] - disp[2]
        a, bb = np.linalg.norm(major) / 2.0, np.linalg.norm(minor) / 2.0
        u = major / np.linalg.norm(major)
        v = np.array([-u[1], u[0]])
        cov = a * a * np.outer(u, u) + bb * bb * np.outer(v, v)
        return EllipsoidGate(gid, parent, tuple(dims), tuple(center), tuple(map(tuple, cov)), 1.0)
    return PolygonGate(gid, parent, tuple(dims), tuple(map(tuple, disp)))


def _fj9_walk(b: "_Builder", node: ET.Element, parent_id: str | None, parent_path: str) -> None:
    for pop in node.findall("Population"):
        name = pop.get("name", "population")
        path = f"{parent_path}/{name}" if parent_path else name
        gid = b.unique(name, parent_id)
        b.path_to_id[path] = gid
        holder = pop.find("PolygonGate")
        if holder is None:
            raise InputError(f"population '{path}' has no gate", file=b.where)
        b.gates.append(_fj9_gate(b, holder, gid, parent_id))
        _fj9_walk(b, pop, gid, path)


def read_wsp(path: str | os.PathLike, sample_name: str | None = None) -> GatingStrategy:
    """Gating strategy (gates, transforms, compensation) of one sample of a FlowJo 10 workspace.

    ``sample_name`` selects the sample by FlowJo name or file stem; default: the first one.
    """
    root = _load(path)
    where = Path(path).name
    sample_el = _pick_sample(root, sample_name, path)
    node = sample_el.find("SampleNode")
    if _is_flowjo9(root):
        transforms = _fj9_transforms(root, sample_el)
        comp, prefix, suffix = _fj9_compensation(root, sample_el)
        b = _Builder(transforms, comp, prefix, suffix, where)
        if node is not None:
            _fj9_walk(b, node, None, "")
    else:
        transforms = _parse_transforms(sample_el, where)
        comp, prefix, suffix = _parse_compensation(sample_el, where)
        b = _Builder(transforms, comp, prefix, suffix, where)
        b.walk(None if node is None else node.find("Subpopulations"), None, "")
        b.resolve_booleans()
    used_xf = {d.transform_ref for g in b.gates for d in g.dimensions if d.transform_ref}
    try:
        return GatingStrategy(b.gates, [t for k, t in transforms.items() if k in used_xf],
                              [comp] if comp is not None else [])
    except ValueError as e:
        raise InputError(str(e), file=where) from None


def wsp_stored_counts(path: str | os.PathLike, sample_name: str | None = None) -> dict[str, int]:
    """FlowJo's stored ``count`` per population path (``-1`` = FlowJo did not compute it)."""
    root = _load(path)
    sample_el = _pick_sample(root, sample_name, path)
    out: dict[str, int] = {}

    def walk(sub, prefix):
        if sub is None:
            return
        for n in sub:
            if n.tag in ("Population", "AndNode", "OrNode", "NotNode"):
                p = f"{prefix}/{n.get('name')}" if prefix else n.get("name")
                out[p] = int(float(n.get("count", "-1")))
                walk(n if fj9 else n.find("Subpopulations"), p)

    fj9 = _is_flowjo9(root)
    node = sample_el.find("SampleNode")
    walk(None if node is None else (node if fj9 else node.find("Subpopulations")), "")
    return out
