"""Pieces shared by the two front-ends: the parsed call, API errors, prompt building."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import define, field

from agentkit.testing.emulator._cache import TTL, Breakpoint, Position
from agentkit.testing.emulator._model import ModelRequest, Turn
from agentkit.testing.emulator._tokens import canonical_json

__all__ = [
    "check_tool_results",
    "ApiError",
    "Candidate",
    "Marker",
    "ParsedCall",
    "PromptBuilder",
    "apply_automatic",
    "check_markers",
    "parse_ttl",
    "strip_marker",
]


class ApiError(Exception):
    """A request the service would reject: its HTTP ``status`` and message."""

    def __init__(self, message: str, *, status: int = 400, error_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type  # OpenRouter's metadata.error_type, when not the status's


@define(frozen=True, slots=True)
class Marker:
    """A ``cache_control`` marker: where it sits in the request and which position it marks."""

    path: str
    ttl: TTL
    position: int
    automatic: bool = False


@define(frozen=True, slots=True)
class ParsedCall:
    """A validated request: what the model sees and how its prompt is cached."""

    request: ModelRequest
    positions: tuple[Position, ...]
    breakpoints: tuple[Breakpoint, ...]
    stream: bool
    implicit_cache: bool = False
    session_id: str | None = None
    provider_order: tuple[str, ...] = ()
    sticky_hint: str = ""
    ignored_markers: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(factory=dict)


def strip_marker(block: Mapping[str, Any]) -> dict[str, Any]:
    """The block without its ``cache_control``: markers never change a prefix hash."""
    return {k: v for k, v in block.items() if k != "cache_control"}


def parse_ttl(value: Any, path: str) -> TTL:
    """The TTL of a ``cache_control`` value, validated like the Anthropic API does.

    ``path`` locates the block carrying it; "" means the top-level field.
    """
    path = path or "body"
    if not isinstance(value, Mapping):
        raise ApiError(f"{path}.cache_control: Input should be a valid dictionary")
    if value.get("type") != "ephemeral":
        raise ApiError(f"{path}.cache_control.type: Input should be 'ephemeral'")
    ttl = value.get("ttl", "5m")
    if ttl not in ("5m", "1h"):
        raise ApiError(f"{path}.cache_control.ttl: Input should be '5m' or '1h'")
    return "1h" if ttl == "1h" else "5m"


class PromptBuilder:
    """Collects positions, merging runs of tool calls or tool results into one position."""

    def __init__(self, *, collapse_tool_runs: bool) -> None:
        self._collapse = collapse_tool_runs
        self._keys: list[list[str]] = []
        self._tokens: list[int] = []
        self._run: str | None = None
        self.markers: list[Marker] = []

    def add(self, content: Any, tokens: int, *, run: str | None = None) -> int:
        """Add one block; ``run`` names a kind whose consecutive blocks share a position."""
        key = canonical_json(content)
        if self._collapse and run is not None and run == self._run and self._keys:
            self._keys[-1].append(key)
            self._tokens[-1] += tokens
        else:
            self._keys.append([key])
            self._tokens.append(tokens)
        self._run = run
        return len(self._keys) - 1

    def end_run(self) -> None:
        """Stop merging: the next block starts a new position."""
        self._run = None

    def mark(self, path: str, ttl: TTL, position: int, *, automatic: bool = False) -> None:
        self.markers.append(Marker(path, ttl, position, automatic))

    @property
    def count(self) -> int:
        return len(self._keys)

    def positions(self) -> tuple[Position, ...]:
        return tuple(
            Position("\n".join(k), t) for k, t in zip(self._keys, self._tokens, strict=True)
        )


MAX_BREAKPOINTS = 4
TTL_ORDER_MESSAGE = (
    "{path}.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m' "
    "cache_control block. Note that blocks are processed in the following order: `tools`, "
    "`system`, `messages`."
)


def check_markers(markers: list[Marker]) -> tuple[Breakpoint, ...]:
    """Enforce the 4-marker limit and the 1h-before-5m order; the breakpoints to cache at."""
    if len(markers) > MAX_BREAKPOINTS:
        raise ApiError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(markers)}."
        )
    seen_5m = False
    for marker in markers:
        if marker.ttl == "5m":
            seen_5m = True
        elif seen_5m:
            raise ApiError(TTL_ORDER_MESSAGE.format(path=marker.path))
    return tuple(Breakpoint(m.position, m.ttl) for m in markers)


@define(frozen=True, slots=True)
class Candidate:
    """A block the automatic breakpoint could land on."""

    path: str
    position: int
    explicit: TTL | None


def apply_automatic(builder: PromptBuilder, candidates: list[Candidate], value: Any) -> None:
    """Place the top-level automatic marker on the last eligible block (§1.1 edge cases)."""
    ttl = parse_ttl(value, "")
    if not candidates:
        return  # nothing eligible: caching is skipped, as documented
    last = candidates[-1]
    if last.explicit == ttl:
        return
    if last.explicit is not None:
        raise ApiError(
            f"cache_control: the automatic cache_control (ttl='{ttl}') conflicts with the "
            f"explicit cache_control (ttl='{last.explicit}') on {last.path}"
        )
    builder.mark(last.path, ttl, last.position, automatic=True)


def check_tool_results(turns: tuple[Turn, ...] | list[Turn], *, claude: bool = True) -> None:
    """Reject a tool call whose result is not in the next message, as the services do.

    Claude (Anthropic's wording, with the converted message index) and OpenAI
    models answer such a request with a 400.
    """
    for index, turn in enumerate(turns):
        if turn.role != "assistant":
            continue
        calls = [b.id for b in turn.blocks if b.kind == "tool_use"]
        if not calls:
            continue
        following = turns[index + 1] if index + 1 < len(turns) else None
        answered = (
            {b.id for b in following.blocks if b.kind == "tool_result"}
            if following is not None and following.role == "user"
            else set()
        )
        missing = [call for call in calls if call not in answered]
        first_call = next(i for i, b in enumerate(turn.blocks) if b.kind == "tool_use")
        if claude and any(b.kind != "tool_use" for b in turn.blocks[first_call:]):
            # Anthropic: content after a tool_use (text, say) leaves it without its
            # result "immediately after", even when the next message holds it (a
            # recorded 400: anthropic_messages_400_tool_result_ordering).
            missing = calls
        if not missing:
            continue
        if claude:
            raise ApiError(
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        raise ApiError(
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(missing)}"
        )
