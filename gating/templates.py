"""Gating templates recognised by their content (root element and namespace), not their extension.

``detect_template(path)`` names the kind of a file; ``load_template(path)`` reads it into a
:class:`~gating.strategy.GatingStrategy`.  Supported: Gating-ML 2.0, FlowJo 7/8/9 XML
workspaces (saved as ``.xml`` or ``.wsp``), FlowJo 10 ``.wsp`` and this program's strategy JSON.
"""
from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from .errors import GatingError

__all__ = ["SUPPORTED", "TemplateError", "detect_template", "load_template", "workspace_sample_for"]

GATINGML_NS = "http://www.isac-net.org/std/Gating-ML/v2.0/gating"
SUPPORTED = ("Gating-ML 2.0 (.xml), FlowJo 7, 8 or 9 XML workspaces (.xml or .wsp), "
             "FlowJo 10 workspaces (.wsp) and FastMix gating-strategy JSON (.json)")

#: kinds returned by :func:`detect_template`
GATINGML, FLOWJO9, FLOWJO10, STRATEGY_JSON = "gatingml", "flowjo9", "flowjo10", "strategy-json"


class TemplateError(GatingError, ValueError):
    """A template that cannot be read; ``str()`` is one line starting with the file name.

    For a file that is no gating template at all, the message lists what is supported.
    (``study.gating_cli.load_template`` re-raises it as the app's ``InputError``.)
    """

    def __init__(self, message: str, file: str | None = None) -> None:
        self.message, self.file = message, file
        super().__init__(f"{file}: {message}" if file else message)


def _unsupported(name: str, what: str) -> TemplateError:
    return TemplateError(f"{what}; this program reads {SUPPORTED}", file=name)


def _root_tag(path: Path) -> tuple[str, dict[str, str]]:
    """Tag and attributes of the root element, reading no further than its start tag."""
    with open(path, "rb") as fh:
        for _event, el in ET.iterparse(fh, events=("start",)):
            return el.tag, dict(el.attrib)
    raise ET.ParseError("no root element")


def _flowjo_generation(attrs: dict[str, str]) -> str:
    """``flowjo9`` for FlowJo 7/8/9 (XML version 1.x/2.0), ``flowjo10`` for FlowJo 10 (version 20.x)."""
    fj = attrs.get("flowJoVersion", "")
    if fj:
        return FLOWJO9 if fj.split(".")[0] in ("7", "8", "9") else FLOWJO10
    try:
        return FLOWJO10 if float(attrs.get("version", "20")) >= 10 else FLOWJO9
    except ValueError:
        return FLOWJO10


def detect_template(path: str | os.PathLike) -> str:
    """Kind of template in ``path``: ``gatingml``, ``flowjo9``, ``flowjo10`` or ``strategy-json``.

    Raises :class:`TemplateError` (one sentence listing the supported kinds) for anything else.
    """
    p = Path(path)
    if not p.is_file():
        raise TemplateError("template file not found", file=str(p))
    try:
        with open(p, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise TemplateError(f"cannot read template ({exc.strerror or exc})", file=p.name) from None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"{", b"[")):
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise _unsupported(p.name, f"looks like JSON but cannot be parsed ({exc})") from None
        if isinstance(d, dict) and (d.get("format") == "fastmix-gating-strategy" or "gates" in d):
            return STRATEGY_JSON
        raise _unsupported(p.name, "is JSON but not a FastMix gating strategy")
    if not text.startswith(b"<"):
        raise _unsupported(p.name, "is not XML or JSON")
    try:
        tag, attrs = _root_tag(p)
    except ET.ParseError as exc:
        raise _unsupported(p.name, f"is not well-formed XML ({exc})") from None
    ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if local == "Gating-ML":
        if ns == GATINGML_NS:
            return GATINGML
        raise _unsupported(p.name, f"is Gating-ML in namespace '{ns or 'none'}', not Gating-ML 2.0")
    if local == "Workspace" and not ns:
        return _flowjo_generation(attrs)
    raise _unsupported(p.name, f"has root element <{local}>, which is no gating template")


def workspace_sample_for(path: str | os.PathLike, fcs_paths: list) -> str | None:
    """Name of the FlowJo workspace sample whose file is among ``fcs_paths`` (None: no match or not FlowJo)."""
    if detect_template(path) not in (FLOWJO9, FLOWJO10):
        return None
    from .flowjo import list_wsp_samples

    names = {Path(str(p)).name for p in fcs_paths} | {Path(str(p)).stem for p in fcs_paths}
    return next((s for s in list_wsp_samples(path) if s in names or Path(s).stem in names), None)


def load_template(path: str | os.PathLike, sample_name: str | None = None, *, counting: str | None = None,
                  event_count: int | None = None):
    """Read a gating template of any supported kind (see :data:`SUPPORTED`) as a ``GatingStrategy``.

    ``sample_name`` picks the sample of a FlowJo workspace (default: the first); ``event_count``
    tells apart workspace samples that share a name (FlowJo's ``$TOT``).  ``counting``
    (``"flowjo"`` or ``"exact"``) overrides the default engine of a FlowJo import
    (FlowJo-compatible binned counting); Gating-ML and JSON always use exact counting.
    """
    p = Path(path)
    kind = detect_template(p)
    try:
        if kind in (FLOWJO9, FLOWJO10):
            from .flowjo import read_wsp

            kw = {"event_count": event_count, **({} if counting is None else {"counting": counting})}
            return read_wsp(p, sample_name, **kw)
        if kind == STRATEGY_JSON:
            from .strategy import GatingStrategy

            return GatingStrategy.from_dict(json.loads(p.read_text(encoding="utf-8")))
        from .gatingml import read_gatingml

        return read_gatingml(p)
    except (KeyError, TypeError, IndexError, ET.ParseError, OSError) as exc:
        raise TemplateError(f"cannot read gating template ({exc})", file=p.name) from None
    except ValueError as exc:
        if getattr(exc, "file", None) or p.name in str(exc):  # the readers' own errors name the file
            raise
        raise TemplateError(f"cannot read gating template ({exc})", file=p.name) from None
