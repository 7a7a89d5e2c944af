"""Fluorescence compensation (spillover) and spectral unmixing matrices.

A ``Compensation`` holds a spectrum matrix with one row per fluorochrome and one
column per detector (the FCS ``$SPILLOVER`` layout). Square matrices are inverted
(``comp = raw @ inv(S)``), non-square ones are unmixed by least squares, and a
matrix flagged ``inverted`` is applied directly (Gating-ML ``matrix-inverted-already``).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import InputError

__all__ = ["Compensation", "FCS_REF", "UNCOMPENSATED"]

FCS_REF = "FCS"
UNCOMPENSATED = "uncompensated"


@dataclass(frozen=True, eq=False)
class Compensation:
    """Spectrum matrix (``fluorochromes x detectors``) with the names of its rows and columns."""

    id: str
    detectors: tuple[str, ...]
    fluorochromes: tuple[str, ...]
    matrix: np.ndarray
    inverted: bool = False

    def __post_init__(self):
        m = np.array(self.matrix, dtype=np.float64)
        object.__setattr__(self, "detectors", tuple(str(d) for d in self.detectors))
        object.__setattr__(self, "fluorochromes", tuple(str(f) for f in self.fluorochromes))
        if self.inverted:
            want = (len(self.detectors), len(self.fluorochromes))
        else:
            want = (len(self.fluorochromes), len(self.detectors))
        if m.shape != want:
            raise InputError(f"compensation {self.id!r}: matrix is {m.shape[0]}x{m.shape[1]}, "
                             f"expected {want[0]}x{want[1]} for its detector and fluorochrome names")
        if not self.inverted and len(self.fluorochromes) > len(self.detectors):
            raise InputError(f"compensation {self.id!r}: more fluorochromes than detectors cannot be unmixed")
        m.setflags(write=False)
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "_unmix", self._unmixing_matrix())

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Compensation) and self.id == other.id and self.detectors == other.detectors
                and self.fluorochromes == other.fluorochromes and self.inverted == other.inverted
                and np.array_equal(self.matrix, other.matrix))

    def __hash__(self) -> int:
        return hash((self.id, self.detectors, self.fluorochromes))

    def _unmixing_matrix(self) -> np.ndarray:
        """``detectors x fluorochromes`` matrix U with ``compensated = raw[:, detectors] @ U``."""
        if self.inverted:
            return self.matrix
        s = self.matrix
        if s.shape[0] == s.shape[1]:
            try:
                return np.linalg.inv(s)
            except np.linalg.LinAlgError:
                raise InputError(f"compensation {self.id!r}: spillover matrix is singular") from None
        # least squares unmixing: raw = comp @ S  ->  comp = raw @ S^T (S S^T)^-1
        return np.linalg.pinv(s)

    @property
    def unmixing(self) -> np.ndarray:
        return self._unmix

    @property
    def is_square(self) -> bool:
        return len(self.detectors) == len(self.fluorochromes)

    def unmix(self, events: np.ndarray, channels: Sequence[str]) -> np.ndarray:
        """Compensated ``n x fluorochromes`` values from raw events with the given channel names."""
        idx = self._detector_indices(channels)
        return np.asarray(events, dtype=np.float64)[:, idx] @ self._unmix

    def apply(self, events: np.ndarray, channels: Sequence[str]) -> np.ndarray:
        """Copy of ``events`` with the detector columns replaced by compensated values (square only)."""
        if not self.is_square:
            raise ValueError(f"compensation {self.id!r} is not square; use unmix() for spectral data")
        idx = self._detector_indices(channels)
        out = np.array(events, dtype=np.float64, copy=True)
        out[:, idx] = out[:, idx] @ self._unmix
        return out

    def _detector_indices(self, channels: Sequence[str]) -> list[int]:
        chans = list(channels)
        missing = [d for d in self.detectors if d not in chans]
        if missing:
            raise InputError(f"compensation {self.id!r}: detector(s) {', '.join(missing)} not in the sample "
                             f"(channels: {', '.join(chans)})")
        return [chans.index(d) for d in self.detectors]

    def channel_for(self, name: str) -> int | None:
        """Index into the compensated columns for a fluorochrome name (or, if square, a detector name)."""
        if name in self.fluorochromes:
            return self.fluorochromes.index(name)
        if self.is_square and name in self.detectors:
            return self.detectors.index(name)
        return None

    # --- constructors -------------------------------------------------------------------------
    @classmethod
    def from_spillover(cls, sample: Any, id: str = FCS_REF) -> "Compensation":
        """The sample's own ``$SPILLOVER``/``SPILL`` matrix (``sample.spillover``)."""
        spill = getattr(sample, "spillover", None)
        if spill is None:
            raise InputError("the FCS file has no spillover matrix ($SPILLOVER/SPILL)",
                             file=str(getattr(sample, "path", None) or getattr(sample, "name", "sample")))
        names, matrix = spill
        return cls(id=id, detectors=tuple(names), fluorochromes=tuple(names), matrix=np.asarray(matrix))

    @classmethod
    def from_csv(cls, path: str | Path, id: str | None = None) -> "Compensation":
        """Square spillover matrix from CSV/TSV whose header row names the detectors."""
        path = Path(path)
        text = path.read_text(encoding="utf-8-sig")
        dialect = "excel-tab" if text.count("\t") > text.count(",") else "excel"
        rows = [r for r in csv.reader(text.splitlines(), dialect=dialect) if any(c.strip() for c in r)]
        if len(rows) < 2:
            raise InputError("no spillover matrix found", file=path.name)
        header = [h.strip() for h in rows[0]]
        body = rows[1:]
        # an optional first column of row labels (blank header cell) is dropped
        if header and header[0] == "" or (len(body[0]) == len(header) and _is_label(body[0][0])):
            header = header[1:]
            body = [r[1:] for r in body]
        try:
            m = np.array([[float(c) for c in r] for r in body], dtype=np.float64)
        except ValueError as e:
            raise InputError(f"non-numeric value in spillover matrix ({e})", file=path.name) from None
        if m.shape != (len(header), len(header)):
            raise InputError(f"spillover matrix is {m.shape[0]}x{m.shape[1]} but the header names "
                             f"{len(header)} detectors", file=path.name)
        return cls(id=id or path.stem, detectors=tuple(header), fluorochromes=tuple(header), matrix=m)

    # --- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"id": self.id, "detectors": list(self.detectors), "fluorochromes": list(self.fluorochromes),
                "matrix": self.matrix.tolist(), "inverted": bool(self.inverted)}

    @classmethod
    def from_dict(cls, d: dict) -> "Compensation":
        return cls(id=d["id"], detectors=tuple(d["detectors"]), fluorochromes=tuple(d["fluorochromes"]),
                   matrix=np.asarray(d["matrix"], dtype=np.float64), inverted=bool(d.get("inverted", False)))


def _is_label(cell: str) -> bool:
    try:
        float(cell)
        return False
    except ValueError:
        return True
