"""Cell values safe for spreadsheets: no formula injection, no NaN, plain Python types."""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # text a spreadsheet would run


def safe_cell(value: Any) -> Any:
    """Text starting with ``= + - @`` (or tab/CR) gets a leading ``'``; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def excel_value(v: Any) -> Any:
    """A value as Excel stores it: float/int/bool/text (neutralised), ``None`` for missing or non-finite."""
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (int, bool)):
        return v
    if isinstance(v, str):
        return safe_cell(v)
    if isinstance(v, (dict, list, tuple, set)):
        return json.dumps(v, default=str)
    return safe_cell(str(v))
