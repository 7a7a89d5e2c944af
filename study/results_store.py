"""FastMix results saved beside the project file, so that a reopened project shows them.

The file is a compressed NumPy ``.npz`` holding every table of
:class:`engine.results.FastMixResults` (and of its calibration) as float/text arrays plus one
JSON document describing how they fit together; it is read with ``allow_pickle=False``, so
opening a project never runs code from a file. The project's ``results`` section records the
file name and its SHA-256; a file that does not match is not shown (the run report would no
longer describe it).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.calibrate import Calibration
from engine.errors import InputError
from engine.results import FastMixResults
from study.files import write_bytes

__all__ = ["SavedFit", "read_results", "results_path_for", "write_results"]

FORMAT = "fastmix-studio-results"
VERSION = 1
_TYPES = {"FastMixResults": FastMixResults, "Calibration": Calibration}


@dataclasses.dataclass(frozen=True)
class SavedFit:
    """Stands in for a fitted FastMix after reopening: the results, without the data behind them."""

    results_: FastMixResults


def results_path_for(project_path: str | os.PathLike) -> Path:
    """``study.fmsproj`` -> ``study.results.npz`` in the same folder."""
    p = Path(project_path)
    return p.with_name(f"{p.stem}.results.npz")


class _Packer:
    """Turns nested results into JSON with array references, collecting the arrays."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _add(self, values: np.ndarray) -> str:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = values
        return key

    def _labels(self, index: pd.Index) -> str:
        return self._add(np.asarray([str(v) for v in index], dtype=str))

    def pack(self, obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and type(obj).__name__ in _TYPES:
            fields = {f.name: self.pack(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
            return {"__type__": type(obj).__name__, "fields": fields}
        if isinstance(obj, pd.DataFrame):
            return {"__frame__": self._add(obj.to_numpy(dtype=np.float64)) if _numeric(obj) else None,
                    "__cols__": {str(c): self.pack(obj[c]) for c in obj.columns} if not _numeric(obj) else None,
                    "index": self._labels(obj.index), "columns": self._labels(obj.columns),
                    "index_name": obj.index.name}
        if isinstance(obj, pd.Series):
            numeric = pd.api.types.is_numeric_dtype(obj.dtype) and not pd.api.types.is_bool_dtype(obj.dtype)
            values = obj.to_numpy(dtype=np.float64) if numeric else np.asarray([str(v) for v in obj], dtype=str)
            return {"__series__": self._add(values), "index": self._labels(obj.index), "name": obj.name}
        if isinstance(obj, np.ndarray):
            return {"__array__": self._add(obj if obj.dtype.kind in "fiub" else obj.astype(str))}
        if isinstance(obj, dict):
            return {"__dict__": [[self.pack(k), self.pack(v)] for k, v in obj.items()]}
        if isinstance(obj, (list, tuple)):
            return {"__tuple__" if isinstance(obj, tuple) else "__list__": [self.pack(v) for v in obj]}
        if isinstance(obj, np.generic):
            return obj.item()
        if obj is None or isinstance(obj, (str, int, float, bool)):
            return obj
        return str(obj)


def _numeric(df: pd.DataFrame) -> bool:
    return all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in df.dtypes)


def _unpack(obj: Any, arrays) -> Any:
    if isinstance(obj, list):
        return [_unpack(v, arrays) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__type__" in obj:
        cls = _TYPES[obj["__type__"]]
        return cls(**{k: _unpack(v, arrays) for k, v in obj["fields"].items()})
    if "__frame__" in obj:
        index = pd.Index(arrays[obj["index"]].tolist(), name=obj.get("index_name"))
        columns = arrays[obj["columns"]].tolist()
        if obj["__frame__"] is not None:
            return pd.DataFrame(arrays[obj["__frame__"]], index=index, columns=columns)
        return pd.DataFrame({c: _unpack(v, arrays).to_numpy() for c, v in obj["__cols__"].items()}, index=index)
    if "__series__" in obj:
        values = arrays[obj["__series__"]]
        index = pd.Index(arrays[obj["index"]].tolist())
        return pd.Series(values if values.dtype.kind == "f" else values.astype(object), index=index, name=obj["name"])
    if "__array__" in obj:
        return arrays[obj["__array__"]]
    if "__dict__" in obj:
        return {_hashable(_unpack(k, arrays)): _unpack(v, arrays) for k, v in obj["__dict__"]}
    if "__tuple__" in obj:
        return tuple(_unpack(v, arrays) for v in obj["__tuple__"])
    if "__list__" in obj:
        return [_unpack(v, arrays) for v in obj["__list__"]]
    return {k: _unpack(v, arrays) for k, v in obj.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def write_results(results: FastMixResults, path: str | os.PathLike) -> str:
    """Write ``results`` atomically to ``path``; returns the file's SHA-256."""
    packer = _Packer()
    meta = {"format": FORMAT, "version": VERSION, "results": packer.pack(results)}
    buf = io.BytesIO()
    np.savez_compressed(buf, __meta__=np.asarray(json.dumps(meta)), **packer.arrays)
    data = buf.getvalue()
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def read_results(path: str | os.PathLike, sha256: str | None = None) -> FastMixResults:
    """The results saved in ``path``; a missing, changed (``sha256``) or unreadable file raises
    ``InputError`` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the saved results ({exc.strerror or exc})", file=str(path)) from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise InputError("the saved results were changed after the project was saved", file=path.name,
                         hint="run FastMix again")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(str(arrays.pop("__meta__")))
        if meta.get("format") != FORMAT or meta.get("version", 0) > VERSION:
            raise ValueError("not a results file of this version")
        return _unpack(meta["results"], arrays)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise InputError(f"not readable as saved FastMix results ({exc})", file=path.name) from None
