"""The gating sections of a project, as values: DAFi settings (with per-sample auto-tune overrides)
and the user's spillover matrix.

The project stores both as JSON-safe dicts (``dafi`` and ``compensation`` sections). The DAFi
layout and its defaults live here only: :class:`DafiSettings` reads a section (missing keys take
their defaults, unknown keys are kept) and writes it back whole.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Iterable, Mapping

import numpy as np

from gating.compensation import Compensation
from gating.gates import gate_from_dict
from gating.strategy import GatingStrategy

__all__ = ["DafiSettings", "compensation_from_section", "compensation_section", "spillover_to_edit",
           "strategy_with_overrides"]


@dataclass(frozen=True)
class DafiSettings:
    """The ``dafi`` section: clustering (k, seed, channels), per-gate modes and re-cluster flags,
    and the per-sample gate overrides accepted from auto-tune ({sample: {gate id: gate dict}})."""

    k: int = 100
    seed: int = 0
    channels: tuple[str, ...] = ()
    modes: Mapping[str, str] = field(default_factory=dict)
    recluster: tuple[str, ...] = ()
    gate_overrides: Mapping[str, Mapping[str, dict]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys this version does not know, kept as is

    KEYS: ClassVar[tuple[str, ...]] = ("k", "seed", "channels", "modes", "recluster", "gate_overrides")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> "DafiSettings":
        """Settings from a ``dafi`` section (``None``/``{}``: all defaults)."""
        d = copy.deepcopy(dict(d or {}))
        return cls(k=int(d.get("k", 100)), seed=int(d.get("seed", 0)),
                   channels=tuple(d.get("channels") or ()), modes=dict(d.get("modes") or {}),
                   recluster=tuple(d.get("recluster") or ()), gate_overrides=dict(d.get("gate_overrides") or {}),
                   extra={k: v for k, v in d.items() if k not in cls.KEYS})

    def to_dict(self) -> dict:
        """The section as stored: every setting written out (overrides only when there are any)."""
        d = copy.deepcopy(dict(self.extra))
        d.update(k=self.k, seed=self.seed, channels=list(self.channels), modes=dict(self.modes),
                 recluster=list(self.recluster))
        if self.gate_overrides:
            d["gate_overrides"] = copy.deepcopy({s: dict(g) for s, g in self.gate_overrides.items()})
        return d

    def updated(self, values: Mapping[str, Any]) -> "DafiSettings":
        """A copy with some keys of the section replaced (e.g. what the settings dialog returns)."""
        return DafiSettings.from_dict({**self.to_dict(), **dict(values)})

    def with_mode(self, gate_id: str, mode: str) -> "DafiSettings":
        return replace(self, modes={**self.modes, gate_id: mode})

    def with_recluster(self, gate_id: str, on: bool) -> "DafiSettings":
        rec = set(self.recluster)
        (rec.add if on else rec.discard)(gate_id)
        return replace(self, recluster=tuple(sorted(rec)))

    def with_autotune(self, gate_id: str, results: Mapping[str, Any], accepted: Iterable[str]) -> "DafiSettings":
        """Overrides after reviewing auto-tune ``results`` ({sample: TuneResult or error text}):
        the tuned gate for the ``accepted`` samples, the template gate again for the others."""
        accepted = set(accepted)
        over = {s: dict(g) for s, g in self.gate_overrides.items()}
        for name, res in results.items():
            entry = over.setdefault(name, {})
            if name in accepted and not isinstance(res, str):
                entry[gate_id] = res.gate.to_dict()
            else:
                entry.pop(gate_id, None)
            if not entry:
                over.pop(name)
        return replace(self, gate_overrides=over)

    def refiner_args(self) -> dict:
        """Keyword arguments of :class:`gating.dafi.DafiRefiner` for these settings."""
        return {"n_clusters": int(self.k), "channels": list(self.channels) or None, "random_state": int(self.seed)}

    def fit_args(self) -> dict:
        """Keyword arguments of ``DafiRefiner.fit`` (modes and re-cluster set, ``None`` when empty)."""
        return {"modes": dict(self.modes) or None, "recluster": set(self.recluster) or None}


def strategy_with_overrides(strategy: GatingStrategy, overrides: Mapping[str, Mapping] | None) -> GatingStrategy:
    """``strategy`` with one sample's override gates ({gate id: gate dict}); unchanged without any."""
    if not overrides:
        return strategy
    s = strategy.copy()
    for gid, gd in overrides.items():
        if gid in s.gates:
            s.replace_gate(gate_from_dict(gd))
    return s


def compensation_section(detectors: Iterable[str], matrix: Any, id: str = "user") -> dict:
    """The ``compensation`` section for an edited square spillover matrix."""
    return {"id": id, "detectors": [str(d) for d in detectors], "matrix": np.asarray(matrix, dtype=np.float64).tolist()}


def compensation_from_section(section: Mapping[str, Any] | None) -> Compensation | None:
    """The ``compensation`` section as a :class:`Compensation` (``None`` when no matrix is set)."""
    if not section or not section.get("matrix"):
        return None
    dets = tuple(section["detectors"])
    return Compensation(id=section.get("id", "user"), detectors=dets, fluorochromes=dets,
                        matrix=np.asarray(section["matrix"], dtype=np.float64))


def spillover_to_edit(section: Mapping[str, Any] | None, sample: Any) -> tuple[list[str], np.ndarray] | None:
    """(detectors, matrix) to show in the spillover editor: the project's edited matrix, else the
    sample's own ``$SPILLOVER``, else ``None``."""
    if section and section.get("matrix"):
        return list(section["detectors"]), np.asarray(section["matrix"], dtype=np.float64)
    spill = getattr(sample, "spillover", None) if sample is not None else None
    if spill is None:
        return None
    dets, mat = spill
    return list(dets), np.asarray(mat)
