"""FlowJo workspace import (FlowJo 7-10): gates, channel transforms and compensation of one sample.

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

FlowJo 7/8/9 (Mac) XML workspaces (populations directly under ``<SampleNode>``, FlowJo's own
gate XML) are read by :mod:`gating.flowjo9`, with FlowJo-compatible binned counting by default
(``counting="flowjo"``; ``"exact"`` tests exact event values).  The FlowJo 9.7+ layout
(Gating-ML gates in ``<Subpopulations>`` but FlowJo 9 ``<Parameter>`` scales) goes through the
FlowJo 10 walker here with FlowJo 9 display scales.  Population names are kept exactly; a name
used twice in the tree gets its path as the unique id (``Gate.name`` keeps the name).
"""
from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from .compensation import Compensation
from .errors import InputError
from .flowjo9 import Fj9Builder, WorkspaceError, fj9_compensation, linear_units, sample_scales
from .gates import BooleanGate, Dimension, EllipsoidGate, Gate, PolygonGate, RangeGate, RectangleGate
from .gatingml import NS
from .strategy import GatingStrategy
from .transforms import (
    AsinhTransform,
    FlowJoBiexTransform,
    FlowJoDisplayTransform,
    FlowJoLogTransform,
    LinearTransform,
    LogicleTransform,
    Transform,
)

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
        raise InputError("workspace has no <SampleList> (no samples to take gates from)", file=name)
    return root


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


def _pick_sample(root: ET.Element, sample_name: str | None, path, event_count: int | None = None) -> ET.Element:
    samples = root.find("SampleList").findall("Sample")
    if not samples:
        raise InputError("workspace contains no samples", file=Path(path).name)
    if sample_name is None and event_count is None:
        return samples[0]
    hits = samples
    if sample_name is not None:
        want = {sample_name, Path(sample_name).stem}
        hits = []
        for s in samples:
            name = _sample_name(s)
            fil = _sample_keyword(s, "$FIL") or ""
            if want & {name, Path(name).stem, fil, Path(fil).stem, s.get("sampleID", "")}:
                hits.append(s)
    if len(hits) > 1 and event_count is not None:
        hits = [s for s in hits if _sample_tot(s) == event_count] or hits
    if hits:
        return hits[0]
    raise InputError(f"sample '{sample_name}' not in workspace (samples: "
                     f"{', '.join(_sample_name(s) for s in samples)})", file=Path(path).name)


def _sample_tot(sample_el: ET.Element) -> int | None:
    v = _sample_keyword(sample_el, "$TOT") or sample_el.get("eventCount")
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


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
        self.pending_bool: list[tuple[str, str | None, str, list[str], str, str | None]] = []

    def count_names(self, sub: ET.Element) -> None:
        self._names: dict[str, int] = {}
        for n in sub.iter():
            if n.tag in ("Population", "AndNode", "OrNode", "NotNode"):
                self._names[n.get("name", "")] = self._names.get(n.get("name", ""), 0) + 1

    def unique(self, name: str, path: str) -> str:
        """Population id: the FlowJo name, or its path when the name occurs twice (the name is kept)."""
        out = name if getattr(self, "_names", {}).get(name, 0) <= 1 else path
        base, k = out, 2
        while out in self.used:
            out = f"{base} [{k}]"
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
            t = xfs[j]  # FlowJo 9.7+ display scales: vertices go to (unbinned) display channels
            return float((t.channels if isinstance(t, FlowJoDisplayTransform) else t.apply)(np.array([v]))[0])

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
            gid = self.unique(name, path)
            gname = None if gid == name else name
            self.path_to_id[path] = gid
            if tag == "Population":
                gel = node.find("Gate")
                shape = None if gel is None else next((c for c in gel if isinstance(c.tag, str)), None)
                if shape is None:
                    raise InputError(f"population '{path}' has no gate", file=self.where)
                if shape.get("eventsInside", "1") == "0":
                    inner = self.unique(f"{gid} (inside)", f"{path} (inside)")
                    self.gates.append(self.gate(shape, inner, parent_id))
                    self.gates.append(BooleanGate(gid, parent_id, (), "not", ((inner, False),), name=gname))
                else:
                    self.gates.append(dataclasses.replace(self.gate(shape, gid, parent_id), name=gname))
            else:
                deps = [d.get("name", "") for d in node.iter("Dependent")]
                op = {"AndNode": "and", "OrNode": "or", "NotNode": "not"}[tag]
                self.pending_bool.append((gid, parent_id, op, deps, path, gname))
                refs = tuple((d, False) for d in deps) or (("", False),)
                self.gates.append(BooleanGate(gid, parent_id, (), op, refs))
            self.walk(node.find("Subpopulations"), gid, path)

    def resolve_booleans(self) -> None:
        fixed = {}
        for gid, parent, op, deps, path, gname in self.pending_bool:
            refs = []
            parent_path = path.rpartition("/")[0]
            for dep in deps:
                ref = (self.path_to_id.get(f"{parent_path}/{dep}".strip("/")) or self.path_to_id.get(dep.strip("/"))
                       or self.path_to_id.get(dep.rsplit("/", 1)[-1]))
                if ref is None:
                    raise InputError(f"Boolean population '{path}' refers to unknown population '{dep}'",
                                     file=self.where)
                refs.append((ref, False))
            fixed[gid] = BooleanGate(gid, parent, (), op, tuple(refs), name=gname)
        self.gates = [fixed.get(g.id, g) for g in self.gates]


def _fj9_layout(node: ET.Element | None) -> bool:
    """FlowJo 7/8/9.6 layout: populations directly under ``<SampleNode>`` with FlowJo's own gate XML."""
    return node is not None and node.find("Subpopulations") is None


def read_wsp(path: str | os.PathLike, sample_name: str | None = None, *, counting: str = "flowjo",
             event_count: int | None = None) -> GatingStrategy:
    """Gating strategy (gates, transforms, compensation) of one sample of a FlowJo 7-10 workspace.

    ``sample_name`` selects the sample by FlowJo name, file name or stem (default: the first);
    ``event_count`` tells apart samples sharing one name (matched against ``$TOT``).
    ``counting="flowjo"`` (default) counts on FlowJo's binned display channels for FlowJo 7-9
    workspaces; ``"exact"`` tests exact event values.  FlowJo 10 gates are always exact here.
    """
    if counting not in ("flowjo", "exact"):
        raise ValueError(f"counting must be 'flowjo' or 'exact', not {counting!r}")
    root = _load(path)
    where = Path(path).name
    sample_el = _pick_sample(root, sample_name, path, event_count)
    node = sample_el.find("SampleNode")
    try:
        return _read_sample(root, sample_el, node, where, counting)
    except WorkspaceError as e:
        raise InputError(e.message, file=where) from None


def _read_sample(root: ET.Element, sample_el: ET.Element, node: ET.Element | None, where: str,
                 counting: str) -> GatingStrategy:
    engine = "exact"
    if _fj9_layout(node):
        comp = fj9_compensation(root, sample_el)
        scales = sample_scales(root, sample_el, comp.id if comp is not None else None, counting == "flowjo")
        b9 = Fj9Builder(scales, comp, where, linear_units(sample_el, node, scales))
        b9.count_names(node)
        b9.walk(node, None, "")
        b9.resolve_booleans()
        gates, transforms = b9.gates, list(b9.used_transforms.values())
        engine = counting
    else:
        transforms_d = _parse_transforms(sample_el, where)
        comp, prefix, suffix = _parse_compensation(sample_el, where)
        if comp is None and sample_el.find("Transformations") is None:
            # FlowJo 9.7-9.9 layout: Gating-ML gates, but FlowJo 9 scales and workspace matrices
            comp, prefix, suffix = fj9_compensation(root, sample_el), "<", ">"
            scales = sample_scales(root, sample_el, comp.id if comp is not None else None, counting == "flowjo")
            transforms_d = {k: v for k, v in scales.items()}
            engine = counting
        b = _Builder(transforms_d, comp, prefix, suffix, where)
        sub = None if node is None else node.find("Subpopulations")
        if sub is not None:
            b.count_names(sub)
        b.walk(sub, None, "")
        b.resolve_booleans()
        gates = b.gates
        used_xf = {d.transform_ref for g in b.gates for d in g.dimensions if d.transform_ref}
        transforms = list({t.id: t for t in transforms_d.values() if t.id in used_xf}.values())
    try:
        return GatingStrategy(gates, transforms, [comp] if comp is not None else [], counting=engine)
    except ValueError as e:
        raise InputError(str(e), file=where) from None


def wsp_stored_counts(path: str | os.PathLike, sample_name: str | None = None, *,
                      event_count: int | None = None) -> dict[str, int]:
    """FlowJo's stored ``count`` per population path (``-1`` = FlowJo did not compute it)."""
    root = _load(path)
    sample_el = _pick_sample(root, sample_name, path, event_count)
    out: dict[str, int] = {}

    def walk(sub, prefix):
        if sub is None:
            return
        for n in sub:
            if n.tag in ("Population", "AndNode", "OrNode", "NotNode"):
                p = f"{prefix}/{n.get('name')}" if prefix else n.get("name")
                out[p] = int(float(n.get("count", "-1")))
                walk(n if fj9 else n.find("Subpopulations"), p)

    node = sample_el.find("SampleNode")
    fj9 = _fj9_layout(node)
    walk(None if node is None else (node if fj9 else node.find("Subpopulations")), "")
    return out
