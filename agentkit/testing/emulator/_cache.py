"""The prompt-cache engine: pure functions over positions, breakpoints and a store.

Implements Anthropic's documented rules (reference doc §1.3 to §1.5):

- a prompt is a list of *positions* in tools → system → messages order; each
  position's hash is cumulative (it covers every earlier position);
- a request writes one entry per breakpoint, never at other positions;
- a read looks for entries written by earlier requests, walking back at most
  ``lookback`` positions from each breakpoint (the breakpoint counts as the
  first); the longest hit is the read;
- prefixes shorter than the model's minimum are neither read nor written;
- billing with mixed TTLs: A = tokens at the hit, B = tokens at the last 1h
  breakpoint after A (else A), C = tokens at the last breakpoint: read A,
  write 1h B-A, write 5m C-B;
- an entry lives for its TTL from its last write or read.

``implicit=True`` models OpenAI-style automatic caching instead: the whole
prompt is written at its end (free of charge) and any earlier written prefix
may be read, with no lookback limit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Literal

from attrs import define

__all__ = [
    "TTL_SECONDS",
    "Breakpoint",
    "CacheEntry",
    "CachePlan",
    "Fingerprint",
    "MissReason",
    "Position",
    "apply_plan",
    "diagnose",
    "fingerprint",
    "live_entries",
    "plan_request",
    "prefix_hashes",
]

TTL = Literal["5m", "1h"]
TTL_SECONDS: Mapping[str, float] = {"5m": 300.0, "1h": 3600.0}


@define(frozen=True, slots=True)
class Position:
    """One cacheable position: ``key`` is its canonical content (markers removed)."""

    key: str
    tokens: int


@define(frozen=True, slots=True)
class Breakpoint:
    """A ``cache_control`` marker on position ``index`` (0-based)."""

    index: int
    ttl: TTL = "5m"


@define(frozen=True, slots=True)
class CacheEntry:
    """A written prefix: its hash, where it ended, its size and when it expires."""

    prefix_hash: str
    position: int
    tokens: int
    ttl: TTL
    expires_at: float


@define(frozen=True, slots=True)
class CachePlan:
    """What a request reads and writes; apply it with :func:`apply_plan`.

    The token counts partition the prompt:
    ``input_tokens + read_tokens + write_5m_tokens + write_1h_tokens == total_tokens``.
    ``hit_position`` is the position of the entry read (None on a miss).
    """

    total_tokens: int
    read_tokens: int
    write_5m_tokens: int
    write_1h_tokens: int
    hit_position: int | None
    breakpoint_positions: tuple[int, ...]
    written_positions: tuple[int, ...]
    refreshed: tuple[str, ...]
    writes: tuple[CacheEntry, ...]

    @property
    def input_tokens(self) -> int:
        """Tokens neither read nor written (Anthropic's ``input_tokens``)."""
        return self.total_tokens - self.read_tokens - self.write_5m_tokens - self.write_1h_tokens

    @property
    def write_tokens(self) -> int:
        return self.write_5m_tokens + self.write_1h_tokens


def prefix_hashes(seed: str, positions: Sequence[Position]) -> list[str]:
    """The cumulative hash at each position; ``seed`` separates models and upstreams."""
    hashes: list[str] = []
    current = hashlib.sha256(seed.encode()).hexdigest()
    for position in positions:
        current = hashlib.sha256(f"{current}\n{position.key}".encode()).hexdigest()
        hashes.append(current)
    return hashes


def _cumulative(positions: Sequence[Position]) -> list[int]:
    totals: list[int] = []
    running = 0
    for position in positions:
        running += position.tokens
        totals.append(running)
    return totals


def live_entries(store: Mapping[str, CacheEntry], now: float) -> dict[str, CacheEntry]:
    """The entries of ``store`` that have not expired at ``now``."""
    return {h: e for h, e in store.items() if e.expires_at > now}


def plan_request(
    positions: Sequence[Position],
    breakpoints: Sequence[Breakpoint],
    store: Mapping[str, CacheEntry],
    now: float,
    *,
    seed: str,
    min_tokens: int,
    lookback: int = 20,
    implicit: bool = False,
) -> CachePlan:
    """Decide the reads and writes of one request against ``store`` at time ``now``."""
    for bp in breakpoints:
        if not 0 <= bp.index < len(positions):
            raise ValueError(f"breakpoint at position {bp.index} outside 0..{len(positions) - 1}")
    if lookback < 1:
        raise ValueError(f"lookback must be at least 1, got {lookback}")
    hashes = prefix_hashes(seed, positions)
    totals = _cumulative(positions)
    total = totals[-1] if totals else 0
    live = live_entries(store, now)
    if implicit:
        return _plan_implicit(hashes, totals, live, min_tokens=min_tokens)

    marks = sorted({bp.index: bp for bp in breakpoints}.values(), key=lambda bp: bp.index)
    eligible = [bp for bp in marks if totals[bp.index] >= min_tokens]
    hit: int | None = None
    for bp in reversed(eligible):
        for index in range(bp.index, max(-1, bp.index - lookback), -1):
            if hashes[index] in live:
                hit = index
                break
        if hit is not None:
            break
    a = totals[hit] if hit is not None else 0
    last = eligible[-1].index if eligible else None
    c = totals[last] if last is not None else a
    after_hit = [bp for bp in eligible if hit is None or bp.index > hit]
    one_hour = [bp for bp in after_hit if bp.ttl == "1h"]
    b = totals[one_hour[-1].index] if one_hour else a
    writes = tuple(
        CacheEntry(hashes[bp.index], bp.index, totals[bp.index], bp.ttl, 0.0)
        for bp in after_hit
        if hashes[bp.index] not in live
    )
    refreshed = {hashes[hit]} if hit is not None else set()
    refreshed |= {hashes[bp.index] for bp in eligible if hashes[bp.index] in live}
    return CachePlan(
        total_tokens=total,
        read_tokens=a,
        write_5m_tokens=c - b,
        write_1h_tokens=b - a,
        hit_position=hit,
        breakpoint_positions=tuple(bp.index for bp in marks),
        written_positions=tuple(w.position for w in writes),
        refreshed=tuple(sorted(refreshed)),
        writes=writes,
    )


def _plan_implicit(
    hashes: list[str],
    totals: list[int],
    live: Mapping[str, CacheEntry],
    *,
    min_tokens: int,
) -> CachePlan:
    total = totals[-1] if totals else 0
    hit = next((i for i in range(len(hashes) - 1, -1, -1) if hashes[i] in live), None)
    read = totals[hit] if hit is not None else 0
    writes: tuple[CacheEntry, ...] = ()
    if hashes and total >= min_tokens and hashes[-1] not in live:
        writes = (CacheEntry(hashes[-1], len(hashes) - 1, total, "5m", 0.0),)
    return CachePlan(
        total_tokens=total,
        read_tokens=read,
        write_5m_tokens=0,
        write_1h_tokens=0,
        hit_position=hit,
        breakpoint_positions=(),
        written_positions=tuple(w.position for w in writes),
        refreshed=(hashes[hit],) if hit is not None else (),
        writes=writes,
    )


def apply_plan(
    store: Mapping[str, CacheEntry], plan: CachePlan, now: float
) -> dict[str, CacheEntry]:
    """A new store: expired entries dropped, read entries refreshed, the plan's writes added."""
    result = live_entries(store, now)
    for prefix_hash in plan.refreshed:
        entry = result.get(prefix_hash)
        if entry is not None:
            result[prefix_hash] = CacheEntry(
                entry.prefix_hash,
                entry.position,
                entry.tokens,
                entry.ttl,
                now + TTL_SECONDS[entry.ttl],
            )
    for write in plan.writes:
        result[write.prefix_hash] = CacheEntry(
            write.prefix_hash, write.position, write.tokens, write.ttl, now + TTL_SECONDS[write.ttl]
        )
    return result


# Cache diagnostics (reference doc §1.10): the reasons the real API reports, in the
# order it checks them. ``unavailable`` (the service could not compare) is never
# produced by the emulator.
MissReason = Literal[
    "model_changed",
    "system_changed",
    "tools_changed",
    "messages_changed",
    "previous_message_not_found",
    "unavailable",
]


@define(frozen=True, slots=True)
class Fingerprint:
    """What the diagnostics compare: the model and the hashes of each prompt section.

    ``messages`` holds the cumulative hash after each message position, so one
    request's messages are a prefix of the next's when the hashes agree.
    """

    model: str
    tools: str
    system: str
    messages: tuple[str, ...]
    tokens: tuple[int, ...]  # cumulative tokens at every position
    sections: tuple[int, int]  # positions in tools, then in system


def fingerprint(
    model: str, positions: Sequence[Position], sections: tuple[int, int]
) -> Fingerprint:
    """The fingerprint of a prompt whose first positions are ``sections`` tools and system."""
    n_tools, n_system = sections
    keys = [p.key for p in positions]
    tools = hashlib.sha256("\n".join(keys[:n_tools]).encode()).hexdigest()
    system = hashlib.sha256("\n".join(keys[n_tools : n_tools + n_system]).encode()).hexdigest()
    messages = tuple(prefix_hashes("messages", positions[n_tools + n_system :]))
    return Fingerprint(model, tools, system, messages, tuple(_cumulative(positions)), sections)


def diagnose(
    previous: Fingerprint | None, current: Fingerprint
) -> tuple[MissReason | None, int | None]:
    """Why ``current`` cannot reuse ``previous``'s prefix, and the input tokens it misses.

    ``(None, None)`` when nothing diverged (a miss then comes from elsewhere: an
    expired entry, a short prefix). Tokens are given for the ``*_changed`` reasons
    only, as the API does: the tokens from the first changed position onwards.
    """
    if previous is None:
        return "previous_message_not_found", None
    total = current.tokens[-1] if current.tokens else 0
    n_tools, n_system = current.sections

    def missed(start: int) -> int:
        return total - (current.tokens[start - 1] if start > 0 else 0)

    if previous.model != current.model:
        return "model_changed", total
    if previous.tools != current.tools:
        return "tools_changed", total
    if previous.system != current.system:
        return "system_changed", missed(n_tools)
    old, new = previous.messages, current.messages
    same = 0
    while same < min(len(old), len(new)) and old[same] == new[same]:
        same += 1
    if same < len(old):
        return "messages_changed", missed(n_tools + n_system + same)
    return None, None
