"""One Vietnamese number format for everything an analyst reads (CLI, report, charts, Word).

Decimal comma and dot thousands (83,94; 1.234), counts and ranks as integers, indices with two
decimals as the Ministry's SIPAS reports print them (83,94%), shares with one, and "—" for a
value that does not exist (never "nan" or a fake 0).
"""

from __future__ import annotations

import math

import numpy as np


def _missing(x: object) -> bool:
    if x is None:
        return True
    try:
        return bool(isinstance(x, (float, np.floating)) and math.isnan(float(x)))
    except (TypeError, ValueError):
        return False


def vn_number(x: object, digits: int = 2) -> str:
    """Vietnamese number format: decimal comma (83,94), dot thousands (1.234); NaN → "—"."""
    if _missing(x):
        return "—"
    if isinstance(x, (bool, np.bool_)):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}".replace(",", ".")
    if isinstance(x, (float, np.floating)):
        s = f"{float(x):,.{digits}f}"
        return s.replace(",", "\u00a0").replace(".", ",").replace("\u00a0", ".")
    return str(x)


def vn_int(x: object) -> str:
    """A count or a rank: always an integer (138, not 138,00)."""
    return "—" if _missing(x) else vn_number(int(round(float(x))))  # type: ignore[arg-type]


def vn_pct(x: object, digits: int = 2) -> str:
    """A percentage with its sign: 82,42%."""
    return "—" if _missing(x) else f"{vn_number(float(x), digits)}%"  # type: ignore[arg-type]


def vn_range(lo: object, hi: object, digits: int = 2) -> str:
    """An interval "80,21–84,63" (en dash, no spaces); "—" when either end is missing."""
    if _missing(lo) or _missing(hi):
        return "—"
    return f"{vn_number(float(lo), digits)}–{vn_number(float(hi), digits)}"  # type: ignore[arg-type]


def vn_points(x: object, digits: int = 2) -> str:
    """A change in percentage points with its sign: "+1,20", "−0,35" (a real minus sign)."""
    if _missing(x):
        return "—"
    v = float(x)  # type: ignore[arg-type]
    body = vn_number(abs(v), digits)
    if body.strip("0,") == "":
        return body
    return ("+" if v > 0 else "\u2212") + body
