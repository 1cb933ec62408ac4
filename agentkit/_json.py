"""JSON that can always be written: deterministic bytes, and text that encodes as UTF-8.

:func:`canonical_json` keeps a cached prompt prefix byte-identical from turn to
turn. :func:`encodable_text` and :func:`encodable_json` are the one place that
makes text safe for UTF-8 (the value constructors of :mod:`agentkit._messages`
and tool results call them): a lone surrogate (what ``os.fsdecode`` makes of a
non-UTF-8 file name, or half of a JSON ``\\u`` escape pair) cannot be encoded,
so it becomes U+FFFD; a high surrogate directly followed by a low one is the
UTF-16 spelling of one character and is joined into it. Each fix logs
``messages.surrogates_replaced`` (``where``, ``count`` replaced, ``joined``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentkit._log import get_logger

__all__ = ["canonical_json", "encodable_json", "encodable_text", "fix_surrogates"]

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_SURROGATE = re.compile("[\ud800-\udfff]")
_log = get_logger("agentkit.messages")


def canonical_json(value: Any) -> str:
    """``value`` as compact JSON with sorted keys."""
    return _ENCODER.encode(value)


def _encodes(text: str) -> bool:
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return True
    try:
        text.encode("utf-8")  # C speed: several times faster than a regex scan
    except UnicodeEncodeError:
        return False
    return True


def fix_surrogates(text: str) -> tuple[str, int, int]:
    """``text`` made encodable, with how many lone surrogates were replaced and pairs joined."""
    if _encodes(text):
        return text, 0, 0
    surrogates = len(_SURROGATE.findall(text))
    fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    joined = len(text) - len(fixed)  # each joined pair is one character shorter
    return fixed, surrogates - 2 * joined, joined


def _report(where: str, replaced: int, joined: int, fields: dict[str, Any]) -> None:
    _log.warning(
        "messages.surrogates_replaced", where=where, count=replaced, joined=joined, **fields
    )


def encodable_text(text: str, where: str, **fields: Any) -> str:
    """``text`` itself when it encodes as UTF-8, else a fixed copy (logged, naming ``where``)."""
    if _encodes(text):
        return text
    fixed, replaced, joined = fix_surrogates(text)
    if fixed is not text:
        _report(where, replaced, joined, fields)
    return fixed


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:  # iterative: JSON may nest deeper than the recursion limit allows
        item = stack.pop()
        if isinstance(item, str):
            if not _encodes(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def encodable_json(value: Any, where: str, **fields: Any) -> Any:
    """JSON data itself when all its strings (keys too) encode, else a fixed copy.

    The copy turns tuples into lists, as JSON would; the input is never changed.
    """
    if not _has_surrogate(value):
        return value
    counts = [0, 0]

    def fix(text: str) -> str:
        fixed, replaced, joined = fix_surrogates(text)
        counts[0] += replaced
        counts[1] += joined
        return fixed

    holder: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, holder, 0)]
    while stack:  # iterative, like _has_surrogate: containers are filled in as found
        item, parent, key = stack.pop()
        if isinstance(item, str):
            parent[key] = fix(item)
        elif isinstance(item, dict):
            mapping: dict[Any, Any] = {}
            parent[key] = mapping
            for k, v in item.items():
                new_key = fix(k) if isinstance(k, str) else k
                mapping[new_key] = None  # keeps the key order; the value comes later
                stack.append((v, mapping, new_key))
        elif isinstance(item, list | tuple):
            items: list[Any] = [None] * len(item)
            parent[key] = items
            stack.extend((v, items, i) for i, v in enumerate(item))
        else:
            parent[key] = item
    _report(where, counts[0], counts[1], fields)
    return holder[0]
