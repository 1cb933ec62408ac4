"""The emulator's token estimate, the same for both APIs.

Rules (deliberately simple, so tests can compute expected numbers by hand):

- text, thinking and redacted-thinking data: ``ceil(len(chars) / 4)``;
- an image: :data:`IMAGE_TOKENS` whatever its size;
- a tool definition, a tool call or any other JSON value: ``ceil(len(canonical JSON) / 4)``
  where canonical JSON is ``json.dumps(value, sort_keys=True, separators=(",", ":"))``.

An empty string costs 0 tokens; there is no per-message overhead.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["IMAGE_TOKENS", "canonical_json", "json_tokens", "text_tokens"]

IMAGE_TOKENS = 1600


def canonical_json(value: Any) -> str:
    """Key-sorted compact JSON: the form hashed by the cache and counted by the estimate."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def text_tokens(text: str) -> int:
    """Tokens of a piece of text: one per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def json_tokens(value: Any) -> int:
    """Tokens of a JSON value: its canonical JSON counted as text."""
    return text_tokens(canonical_json(value))
