"""Deterministic JSON, so a cached prompt prefix is byte-identical from turn to turn."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json"]

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """``value`` as compact JSON with sorted keys."""
    return _ENCODER.encode(value)
