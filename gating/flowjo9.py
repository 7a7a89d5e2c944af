"""FlowJo 7/8/9 (Mac) XML workspaces: display scales, compensation, gates and Booleans of one sample.

FlowJo draws and counts gates on its display channels: a log axis of a FlowJo 8 FCS 2.0 file
is ``range * log10(v / low) / decades`` (512 channels), a FlowJo 9 axis is a 4,097-entry
calibration table (channel -> value; compensated channels have their own table, named
``"<matrix> <channel>"``), a linear axis is ``v * range / ($PnR / $PnG)``.  Every gate
dimension gets a :class:`~gating.transforms.FlowJoDisplayTransform` and every vertex is
converted to display channels, so polygon edges are straight where FlowJo drew them.
With ``counting="flowjo"`` (the default) events are also moved to their display bin
(FlowJo-compatible counting); ``counting="exact"`` keeps exact event values.

Per-sample gates (inside ``<SampleNode>``) are used, never the group templates; original
population names are kept (a name used twice gets its path as the unique id); Boolean
``specification`` strings of any nesting (``G1 & ! G0``, ``(G0 | G1) & ! G2``) refer to
``GatePaths`` that are sibling names, rooted paths (``/A``) or full paths (``S/Lv/L``).
The FlowJo 9.7+ layout (``<Gate>`` holding Gating-ML gates, ``<Subpopulations>``) is read
by the FlowJo 10 code in :mod:`gating.flowjo`.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from .compensation import Compensation
from .gates import BooleanGate, Dimension, EllipsoidGate, Gate, PolygonGate, RangeGate
from .transforms import FlowJoDisplayTransform

__all__ = ["Fj9Builder", "WorkspaceError", "sample_keyword", "sample_scales", "fj9_compensation"]


class WorkspaceError(ValueError):
    """A workspace problem; :func:`gating.flowjo.read_wsp` reports it naming the file."""

    def __init__(self, message: str, file: str | None = None) -> None:
        self.message, self.file = message, file
        super().__init__(message)

_SHAPES = ("Polygon", "PolyRect", "Range", "Ellipse", "Rectangle")
#: FlowJo 7/8/9 ellipses hold fewer events than the ellipse through their four stored points: the
#: stored counts of all four ellipses in the FlowJo 8.5.3 tutorial workspace (2 gates x 2 samples)
#: are met by radii x 0.971 (fitted range 0.9705-0.9722) with events at their bin's lower corner
ELLIPSE_SCALE = 0.971


def sample_keyword(sample_el: ET.Element, key: str) -> str | None:
    """Value of an FCS keyword stored for the sample in the workspace."""
    for k in sample_el.iter("Keyword"):
        if k.get("name") == key:
            return k.get("value")
    return None


def _float(v: str | None, default: float) -> float:
    try:
        return float(str(v).strip()) if v is not None and str(v).strip() else default
    except ValueError:
        return default


def _tables(root: ET.Element) -> list[ET.Element]:
    ct = root.find("CalibrationTables")
    return [] if ct is None else list(ct)


def _table_values(t: ET.Element) -> tuple[float, ...]:
    nums = [float(x) for x in re.split(r"[,\s]+", (t.text or "").strip()) if x]
    return tuple(nums[1::2])


def sample_scales(root: ET.Element, sample_el: ET.Element, comp_name: str | None,
                  binned: bool) -> dict[str, FlowJoDisplayTransform]:
    """Display transform of every parameter, keyed by the name used in gates (``<X>`` = compensated)."""
    tables = _tables(root)
    by_name = {t.get("name"): t for t in tables}
    out: dict[str, FlowJoDisplayTransform] = {}
    for i, p in enumerate(sample_el.findall("Parameter"), start=1):
        name = p.get("name") or f"P{i}"
        rng = _float(p.get("range"), 4096.0) or 4096.0
        pnr = _float(sample_keyword(sample_el, f"$P{i}R"), 0.0)
        png = _float(sample_keyword(sample_el, f"$P{i}G"), 1.0) or 1.0
        pne = (sample_keyword(sample_el, f"$P{i}E") or "0,0").replace(" ", "")
        log_stored = _float(pne.split(",")[0], 0.0) > 0
        for key, table_name in ((name, None), (f"<{name}>", f"{comp_name} <{name}>" if comp_name else None)):
            tid = f"{key} [FlowJo display]"
            if p.get("log", "0") == "1":
                t = by_name.get(table_name) if table_name else None
                idx = int(_float(p.get("calibrationIndex"), 0))
                if t is None and 0 < idx <= len(tables):
                    t = tables[idx - 1]
                if t is not None and len(_table_values(t)) > 1:
                    out[key] = FlowJoDisplayTransform(tid, scale="table", range=rng, table=_table_values(t),
                                                      binned=binned)
                else:
                    low = _float(p.get("lowValue"), 1.0)
                    out[key] = FlowJoDisplayTransform(tid, scale="log", range=rng, low=low if low > 0 else 1.0,
                                                      decades=_float(p.get("decades"), 4.0) or 4.0, binned=binned)
            else:
                high = pnr / png if pnr > 0 and not log_stored else _float(p.get("highValue"), rng)
                out[key] = FlowJoDisplayTransform(tid, scale="linear", range=rng, low=0.0, high=high or rng,
                                                  binned=binned)
    return out


def fj9_compensation(root: ET.Element, sample_el: ET.Element) -> Compensation | None:
    """The workspace matrix the sample uses (``compensationID`` = 1-based index, ``FJ_CompMatrixName``)."""
    mats = root.find("CompensationMatrices")
    if mats is None or not len(mats):
        return None
    mats = list(mats)
    chosen = None
    wanted = sample_keyword(sample_el, "FJ_CompMatrixName")
    if wanted:
        chosen = next((m for m in mats if m.get("name") == wanted), None)
    cid = sample_el.get("compensationID")
    if chosen is None:
        if cid in (None, "", "0", "-1"):
            return None
        k = int(_float(cid, 1))
        chosen = mats[k - 1] if 0 < k <= len(mats) else mats[0]
    rows = chosen.findall("Channel")
    if not rows:
        return None
    fluor = [r.get("name") for r in rows]
    det = [v.get("name") for v in rows[0].findall("ChannelValue")]
    m = np.array([[float(v.get("value")) for v in r.findall("ChannelValue")] for r in rows], dtype=np.float64)
    return Compensation(chosen.get("name"), tuple(det), tuple(fluor), m)


# --- Boolean specifications ---------------------------------------------------------------------------

def _parse_spec(spec: str):
    """``G1 & ! (G0 | G2)`` -> nested tuples ``("and", [...])``, ``("not", x)``, ``("ref", i)``."""
    toks = re.findall(r"G\d+|[&|!()]|and|or|not", spec.replace("&&", "&").replace("||", "|"))
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take():
        nonlocal pos
        if pos >= len(toks):
            raise ValueError("unexpected end (unbalanced parentheses?)")
        pos += 1
        return toks[pos - 1]

    def atom():
        t = take() if peek() is not None else None
        if t in ("!", "not"):
            return ("not", atom())
        if t == "(":
            e = expr()
            if take() != ")":
                raise ValueError("unbalanced parentheses")
            return e
        if t and t.startswith("G"):
            return ("ref", int(t[1:]))
        raise ValueError(f"unexpected token {t!r}")

    def chain(sub, ops, name):
        items = [sub()]
        while peek() in ops:
            take()
            items.append(sub())
        return items[0] if len(items) == 1 else (name, items)

    def term():
        return chain(atom, ("&", "and"), "and")

    def expr():
        return chain(term, ("|", "or"), "or")

    tree = expr()
    if pos != len(toks):
        raise ValueError(f"unexpected {toks[pos]!r}")
    return tree


# --- gates -------------------------------------------------------------------------------------------

class Fj9Builder:
    """Walks one ``<SampleNode>`` and builds gates with display-channel coordinates."""

    def __init__(self, scales: dict[str, FlowJoDisplayTransform], comp: Compensation | None, where: str,
                 linear_unit: dict[str, float]):
        self.scales, self.comp, self.where, self.linear_unit = scales, comp, where, linear_unit
        self.gates: list[Gate] = []
        self.path_to_id: dict[str, str] = {}
        self.used_transforms: dict[str, FlowJoDisplayTransform] = {}
        self.pending: list[tuple[str, str | None, str, list[str], str, str]] = []
        self._names: dict[str, int] = {}

    def dimension(self, axis: str) -> tuple[Dimension, FlowJoDisplayTransform]:
        axis = axis.strip()
        comp_ref, channel = None, axis
        if axis.startswith("<") and axis.endswith(">") and self.comp is not None:
            channel, comp_ref = axis[1:-1], self.comp.id
        t = self.scales.get(axis) or self.scales.get(channel)
        if t is None:
            raise WorkspaceError(f"gate axis '{axis}' is not a parameter of the sample", file=self.where)
        self.used_transforms[t.id] = t
        return Dimension(channel, comp_ref, t.id), t

    def _chan(self, t: FlowJoDisplayTransform, axis: str, v: np.ndarray) -> np.ndarray:
        if t.scale == "linear":
            v = v * self.linear_unit.get(axis.strip("<>"), 1.0)
        return t.channels(v)

    def shape_gate(self, holder: ET.Element, gid: str, parent: str | None, label: str) -> Gate:
        """Polygon / PolyRect / Range / Ellipse in display channels (axis names from attributes or strings)."""
        name = None if label == gid else label
        shape = next((c for c in holder if c.tag in _SHAPES), None)
        if shape is None:
            raise WorkspaceError(f"population '{label}': unsupported FlowJo gate "
                             f"({', '.join(c.tag for c in holder) or 'empty'})", file=self.where)
        strings = [s.text or "" for s in holder.iter("String")]
        axes = [shape.get("xAxisName") or (strings[0] if strings else ""),
                shape.get("yAxisName") or (strings[1] if len(strings) > 1 else "")]
        verts = np.array([[_float(v.get("x"), 0.0), _float(v.get("y"), 0.0)] for v in shape.iter("Vertex")])
        if shape.tag == "Range" or not axes[1]:
            dim, t = self.dimension(axes[0])
            xs = self._chan(t, axes[0], verts[:, 0])  # the y value of a Range is the histogram height
            return RangeGate(gid, parent, (dim,), (float(xs.min()),), (float(xs.max()),), name=name)
        (dx, tx), (dy, ty) = self.dimension(axes[0]), self.dimension(axes[1])
        disp = np.column_stack([self._chan(tx, axes[0], verts[:, 0]), self._chan(ty, axes[1], verts[:, 1])])
        if shape.tag == "Ellipse":
            return self._ellipse(disp, gid, parent, (dx, dy), name, tx.binned)
        return PolygonGate(gid, parent, (dx, dy), tuple(map(tuple, disp)), name=name)

    def _ellipse(self, pts: np.ndarray, gid: str, parent: str | None, dims, name: str | None,
                 binned: bool) -> EllipsoidGate:
        """Four points (ends of two conjugate diameters) in display channels -> FlowJo's ellipse.

        FlowJo 8's counts are reproduced by an ellipse shrunk by :data:`ELLIPSE_SCALE` and tested
        on the lower corner of each display bin (centre moved by half a bin when binned).
        """
        if pts.shape[0] < 4:
            raise WorkspaceError(f"ellipse '{name or gid}' needs 4 vertices", file=self.where)
        center = pts[:4].mean(axis=0) + (0.5 if binned else 0.0)
        a, b = (pts[1] - pts[0]) / 2.0, (pts[3] - pts[2]) / 2.0
        m = np.column_stack([a, b]) * ELLIPSE_SCALE  # x = center + m @ (cos t, sin t)
        cov = m @ m.T
        return EllipsoidGate(gid, parent, tuple(dims), tuple(center), tuple(map(tuple, cov)), 1.0, name=name)

    def unique_id(self, name: str, path: str) -> str:
        """The FlowJo name when no other population uses it, else its path (the name itself is kept)."""
        return name if self._names.get(name, 0) <= 1 else path

    def count_names(self, node: ET.Element) -> None:
        for pop in node.iter("Population"):
            n = pop.get("name", "population")
            self._names[n] = self._names.get(n, 0) + 1

    def walk(self, node: ET.Element, parent_id: str | None, parent_path: str) -> None:
        for pop in node.findall("Population"):
            name = pop.get("name", "population")
            path = f"{parent_path}/{name}" if parent_path else name
            gid = self.unique_id(name, path)
            self.path_to_id[path] = gid
            gname = None if gid == name else name
            boolean = pop.find("BooleanGate")
            if boolean is not None:
                paths = boolean.find("GatePaths")
                refs = [] if paths is None else [s.text or "" for s in paths.iter("String")]
                self.pending.append((gid, parent_id, boolean.get("specification", ""), refs, parent_path, name))
                self.gates.append(BooleanGate(gid, parent_id, (), "not", (("", False),), name=gname))
            else:
                holder = pop.find("PolygonGate")
                if holder is None:
                    raise WorkspaceError(f"population '{path}' has no gate", file=self.where)
                self.gates.append(self.shape_gate(holder, gid, parent_id, name))
            self.walk(pop, gid, path)

    def _resolve(self, ref: str, parent_path: str, who: str) -> str:
        ref = ref.strip()
        cands = []
        if ref.startswith("/"):
            cands.append(ref.strip("/"))
        else:
            if parent_path:
                cands.append(f"{parent_path}/{ref}")
            cands.append(ref)
        for c in cands:
            if c in self.path_to_id:
                return self.path_to_id[c]
        tail = [p for p in self.path_to_id if p.rsplit("/", 1)[-1] == ref.rsplit("/", 1)[-1]]
        if len(tail) == 1:
            return self.path_to_id[tail[0]]
        raise WorkspaceError(f"Boolean population '{who}' refers to unknown population '{ref}'", file=self.where)

    def _operand(self, node, ids: list[str], gid: str, name: str, extra: list[Gate]) -> tuple[str, bool]:
        """A (population id, complement) operand; nested and/or terms become helper gates."""
        if node[0] == "ref":
            if not 0 <= node[1] < len(ids):
                raise WorkspaceError(f"Boolean population '{name}': G{node[1]} has no gate path", file=self.where)
            return ids[node[1]], False
        if node[0] == "not":
            r, c = self._operand(node[1], ids, gid, name, extra)
            return r, not c
        hid = f"{gid} [term {sum(g.id.startswith(gid + ' [term') for g in extra) + 1}]"
        refs = tuple(self._operand(x, ids, gid, name, extra) for x in node[1])
        extra.append(BooleanGate(hid, None, (), node[0], refs))
        return hid, False

    def resolve_booleans(self) -> None:
        """Turn every Boolean specification into BooleanGates (helper gates for nested terms)."""
        fixed: dict[str, Gate] = {}
        extra: list[Gate] = []
        for gid, parent, spec, refs, parent_path, name in self.pending:
            try:
                tree = _parse_spec(spec)
            except (ValueError, IndexError) as e:
                raise WorkspaceError(f"Boolean population '{name}': cannot parse '{spec}' ({e})",
                                     file=self.where) from None
            ids = [self._resolve(r, parent_path, name) for r in refs]
            gname = None if gid == name else name
            if tree[0] in ("and", "or"):
                ops = tuple(self._operand(x, ids, gid, name, extra) for x in tree[1])
                fixed[gid] = BooleanGate(gid, parent, (), tree[0], ops, name=gname)
            else:
                r, c = self._operand(tree, ids, gid, name, extra)
                fixed[gid] = BooleanGate(gid, parent, (), "not" if c else "and", ((r, False),), name=gname)
        self.gates = extra + [fixed.get(g.id, g) for g in self.gates]


def linear_units(sample_el: ET.Element, node: ET.Element,
                 scales: dict[str, FlowJoDisplayTransform]) -> dict[str, float]:
    """Data units per stored vertex unit on linear axes.

    FlowJo 9.3 stores linear 18-bit scatter vertices in display units (0..4096, x ``$PnR / range``
    gives data), FlowJo 8 and 9.2 in data units; told apart by whether any vertex exceeds the range.
    """
    out: dict[str, float] = {}
    peak: dict[str, float] = {}
    for shape in node.iter():
        if shape.tag not in _SHAPES:
            continue
        for axis, coord in ((shape.get("xAxisName"), "x"), (shape.get("yAxisName"), "y")):
            if not axis:
                continue
            a = axis.strip("<>")
            vals = [abs(_float(v.get(coord), 0.0)) for v in shape.iter("Vertex")]
            peak[a] = max([peak.get(a, 0.0), *vals])
    for a, top in peak.items():
        t = scales.get(a)
        if t is None or t.scale != "linear":
            continue
        if t.high > 2.0 * t.range and top <= t.range * 1.001:
            out[a] = t.high / t.range
    return out


def sample_display_name(sample_el: ET.Element) -> str:
    node = sample_el.find("SampleNode")
    if node is not None and node.get("name"):
        return node.get("name")
    fil = sample_keyword(sample_el, "$FIL")
    return fil or Path(str(sample_el.get("sampleID", "sample"))).name
