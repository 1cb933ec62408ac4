"""The emulator's configuration, clock, per-request records and lock-guarded state."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
from attrs import define, field

from agentkit._models import ModelInfo, find_model, model_key, registered_models
from agentkit.testing.emulator._cache import (
    CacheEntry,
    CachePlan,
    Fingerprint,
    apply_plan,
    live_entries,
)
from agentkit.testing.emulator._faults import Fault
from agentkit.testing.emulator._model import ModelPolicy, ModelReply, ModelRequest, demo_policy

__all__ = [
    "CacheReport",
    "EmulatorConfig",
    "ManualClock",
    "RequestRecord",
    "ScriptEndedError",
    "SystemClock",
]

Api = Literal["anthropic", "openrouter"]
UsageChunk = Literal["repeat", "empty_choices", "null_finish"]
# Minimums for models the registry does not know: Claude's most common value,
# OpenAI's automatic-caching threshold.
DEFAULT_CLAUDE_MINIMUM = 1024
DEFAULT_IMPLICIT_MINIMUM = 1024


class ManualClock:
    """A clock that moves only when told: ``advance(seconds)``. Thread-safe."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        with self._lock:
            self._now += seconds

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()})"


class SystemClock:
    """Real elapsed time (monotonic); ``advance`` adds an offset, handy in demos."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        with self._lock:
            self._offset += seconds


Clock = ManualClock | SystemClock


def _providers(value: Sequence[str]) -> tuple[str, ...]:
    names = tuple(value)
    if not names:
        raise ValueError("openrouter_providers needs at least one upstream name")
    return names


@define(frozen=True, slots=True)
class EmulatorConfig:
    """How the emulator behaves. Every field has a default faithful to the services.

    - ``report_cache_writes``: OpenRouter reports ``cache_write_tokens`` (off mimics
      the period before it did).
    - ``openrouter_providers``: the upstreams a Claude model is routed over, each
      with its own cache; ``sticky_seconds`` is how long a conversation sticks to one.
    - ``min_cacheable_tokens``: per-model overrides (any spelling of the name);
      otherwise ``agentkit._models.find_model(model).min_cacheable_tokens``.
    - ``models``: extra :class:`ModelInfo` (prices) by model name, consulted first.
    - ``collapse_tool_runs``: count a run of tool_use / tool_result blocks as one
      position (§1.3, newer docs); ``lookback``: positions checked per breakpoint.
    - ``pad_json``: pad Anthropic's JSON before its last brace, as real streams do.
    - ``keepalives``: ``: OPENROUTER PROCESSING`` comments before the first chunk.
    - ``usage_chunk``: the OpenRouter usage chunk variant (§3.3).
    - ``frame_delay``: seconds between stream frames.
    """

    report_cache_writes: bool = True
    openrouter_providers: tuple[str, ...] = field(
        default=("Anthropic", "Amazon Bedrock"), converter=_providers
    )
    sticky_seconds: float = 600.0
    min_cacheable_tokens: Mapping[str, int] = field(factory=dict)
    models: Mapping[str, ModelInfo] = field(factory=dict)
    collapse_tool_runs: bool = True
    lookback: int = 20
    pad_json: bool = True
    keepalives: int = 2
    usage_chunk: UsageChunk = "repeat"
    frame_delay: float = 0.0

    def model_info(self, model: str) -> ModelInfo | None:
        wanted = model_key(model)
        for name, info in self.models.items():
            if model_key(name) == wanted:
                return info
        return find_model(model)

    def known_models(self) -> tuple[ModelInfo, ...]:
        """Every model served: the configured ones, then agentkit's registry."""
        merged = {model_key(m.key): m for m in registered_models()}
        merged |= {
            model_key(name): attrs.evolve(m, key=model_key(name)) for name, m in self.models.items()
        }
        return tuple(sorted(merged.values(), key=lambda m: m.key))

    def minimum(self, model: str, *, implicit: bool) -> int:
        wanted = model_key(model)
        for name, value in self.min_cacheable_tokens.items():
            if model_key(name) == wanted:
                return value
        if implicit:
            return DEFAULT_IMPLICIT_MINIMUM
        info = self.model_info(model)
        return info.min_cacheable_tokens if info is not None else DEFAULT_CLAUDE_MINIMUM


@define(frozen=True, slots=True)
class CacheReport:
    """What the cache did for one request. Positions are 0-based prompt positions."""

    read_tokens: int
    write_5m_tokens: int
    write_1h_tokens: int
    input_tokens: int
    total_tokens: int
    hit_position: int | None
    breakpoint_positions: tuple[int, ...]
    written_positions: tuple[int, ...]
    position_count: int
    min_tokens: int
    upstream: str

    @classmethod
    def of(cls, plan: CachePlan, positions: int, minimum: int, upstream: str) -> CacheReport:
        return cls(
            plan.read_tokens,
            plan.write_5m_tokens,
            plan.write_1h_tokens,
            plan.input_tokens,
            plan.total_tokens,
            plan.hit_position,
            plan.breakpoint_positions,
            plan.written_positions,
            positions,
            minimum,
            upstream,
        )


@define(frozen=True, slots=True)
class RequestRecord:
    """One request the emulator answered, as a test reads it back.

    ``body`` is the parsed JSON; ``headers`` omit credentials. ``usage`` is the
    usage object reported (None on errors); ``error`` the error body sent.
    ``request`` is what the scripted model was shown. ``ignored_markers`` lists
    the ``cache_control`` markers OpenRouter ignored. ``billed`` is what the
    service bills, in the same shape as ``usage``: ``usage`` itself, or, for a
    stream the client left before its end, the prompt and the output sent
    before it left (OpenRouter serves it at ``/api/v1/generation``).
    """

    index: int
    api: Api
    path: str
    body: Any
    headers: Mapping[str, str]
    model: str | None
    status: int
    stream: bool
    fault: Fault | None = None
    error: Any = None
    usage: Mapping[str, Any] | None = None
    cache: CacheReport | None = None
    provider: str | None = None
    reply: ModelReply | None = None
    request: ModelRequest | None = None
    ignored_markers: tuple[str, ...] = ()
    billed: Mapping[str, Any] | None = None


class ScriptEndedError(RuntimeError):
    """The test's script has no reply left for a request."""


@define(frozen=True, slots=True)
class _Sticky:
    provider: str
    last_used: float


class EmulatorState:
    """Everything that changes while the emulator runs, behind one lock.

    The server thread and the test's thread both use it; every method takes the lock.
    """

    def __init__(self, script: Sequence[ModelReply] | ModelPolicy | None) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._stores: dict[tuple[str, str], dict[str, CacheEntry]] = {}
        self._fingerprints: dict[str, Fingerprint] = {}
        self._replies: deque[ModelReply] = deque()
        self._policy: ModelPolicy | None = None
        self._scripted = script is not None
        if callable(script):
            self._policy = script
        elif script is not None:
            self._replies.extend(script)
        self._faults: deque[tuple[Fault, Api | None]] = deque()
        self._sticky: dict[tuple[str, str], _Sticky] = {}
        self._round_robin: dict[str, int] = {}
        self._count = 0

    def reset(self, script: Sequence[ModelReply] | ModelPolicy | None) -> None:
        """Forget every record, cache entry, queued reply and fault, and all stickiness."""
        with self._lock:
            self._records.clear()
            self._stores.clear()
            self._fingerprints.clear()
            self._replies.clear()
            self._policy = script if callable(script) else None
            if script is not None and not callable(script):
                self._replies.extend(script)
            self._scripted = script is not None
            self._faults.clear()
            self._sticky.clear()
            self._round_robin.clear()
            self._count = 0

    def next_index(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    # -- script
    def add_replies(self, replies: Sequence[ModelReply]) -> None:
        with self._lock:
            self._scripted = True
            self._replies.extend(replies)

    def set_policy(self, policy: ModelPolicy | None) -> None:
        with self._lock:
            self._policy = policy
            self._scripted = policy is not None or bool(self._replies)

    def reply_policy(self) -> ModelPolicy:
        """The policy answering the next request: queued replies first, then the policy."""
        with self._lock:
            if self._replies:
                reply = self._replies.popleft()
                return lambda _request: reply
            if self._policy is not None:
                return self._policy
            if self._scripted:
                raise ScriptEndedError("the emulator's script has no reply left")
            return demo_policy

    # -- faults
    def inject(self, fault: Fault, times: int, api: Api | None) -> None:
        with self._lock:
            self._faults.extend([(fault, api)] * times)

    def take_fault(self, api: Api) -> Fault | None:
        with self._lock:
            for i, (fault, wanted) in enumerate(self._faults):
                if wanted is None or wanted == api:
                    del self._faults[i]
                    return fault
            return None

    # -- cache
    def remember_fingerprint(self, message_id: str, value: Fingerprint) -> None:
        """Keep a diagnostics fingerprint under the response id that answered it."""
        with self._lock:
            self._fingerprints[message_id] = value

    def fingerprint(self, message_id: str) -> Fingerprint | None:
        with self._lock:
            return self._fingerprints.get(message_id)

    def store(self, api: str, upstream: str) -> dict[str, CacheEntry]:
        with self._lock:
            return dict(self._stores.get((api, upstream), {}))

    def apply(self, api: str, upstream: str, plan: CachePlan, now: float) -> None:
        with self._lock:
            key = (api, upstream)
            self._stores[key] = apply_plan(self._stores.get(key, {}), plan, now)

    def entries(self, api: str, upstream: str, now: float) -> tuple[CacheEntry, ...]:
        with self._lock:
            live = live_entries(self._stores.get((api, upstream), {}), now)
        return tuple(sorted(live.values(), key=lambda e: e.position))

    def clear_cache(self) -> None:
        with self._lock:
            self._stores.clear()

    # -- routing
    def route(
        self,
        model: str,
        providers: tuple[str, ...],
        key: str,
        *,
        order: tuple[str, ...],
        now: float,
        sticky_seconds: float,
    ) -> str:
        """The upstream serving this request (§3.2)."""
        with self._lock:
            if order:
                slugs = {p.lower().replace(" ", "-"): p for p in providers}
                for slug in order:
                    if slug.lower() in slugs:
                        return slugs[slug.lower()]
                raise LookupError(f"no upstream matches provider.order {list(order)}")
            sticky = self._sticky_provider(model, key, now, sticky_seconds)
            if sticky is not None:
                return sticky
            turn = self._round_robin.get(model, 0)
            self._round_robin[model] = turn + 1
            return providers[turn % len(providers)]

    def _sticky_provider(self, model: str, key: str, now: float, seconds: float) -> str | None:
        sticky = self._sticky.get((model, key))
        return sticky.provider if sticky is not None and now - sticky.last_used < seconds else None

    def sticky_provider(self, model: str, key: str, now: float, seconds: float) -> str | None:
        """The upstream a conversation sticks to at ``now``, if any."""
        with self._lock:
            return self._sticky_provider(model, key, now, seconds)

    def stick(self, model: str, key: str, provider: str, now: float) -> None:
        with self._lock:
            self._sticky[(model, key)] = _Sticky(provider, now)

    # -- records
    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def rebill(self, index: int, billed: Mapping[str, Any]) -> None:
        """Replace what request ``index`` is billed (its client left early)."""
        with self._lock:
            for n, record in enumerate(self._records):
                if record.index == index:
                    self._records[n] = attrs.evolve(record, billed=billed)

    def records(self) -> tuple[RequestRecord, ...]:
        with self._lock:
            return tuple(self._records)

    def clear_records(self) -> None:
        with self._lock:
            self._records.clear()
