"""Small helpers shared by the storage modules (JSON in columns, clocks, row conversion)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any


def dumps(obj: Any) -> str:
    """JSON for a column: compact, Vietnamese kept readable (no \\u escapes)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def loads_obj(raw: str | None) -> dict[str, Any]:
    """A JSON object column as a dict ({} for NULL/empty)."""
    if not raw:
        return {}
    v = json.loads(raw)
    return v if isinstance(v, dict) else {}


def now() -> float:
    """Wall-clock seconds since the epoch: the engine and every timestamp column use it."""
    return time.time()


def frozen(d: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(d) if d else {}
