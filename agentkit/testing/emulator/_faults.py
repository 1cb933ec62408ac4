"""Faults the emulator can inject into one response.

Choose them per request with the ``x-emulator-fault`` header, or queue them
with :meth:`Emulator.inject`. Header grammar: ``kind[=value](;key=value)*``::

    status=429;retry_after=2;message=slow down   -> StatusFault
    stream_error;after=3                          -> StreamErrorFault
    drop;after_bytes=200                          -> DropFault
    stall;seconds=5;after=2                       -> StallFault
    stall;seconds=1;before_headers=true           -> StallFault before the status line
    malformed;after=2                             -> MalformedFault
    drip;chunk=3;delay=0.01                       -> DripFault
    keepalive;after=2;interval=0.05               -> KeepAliveFault
    redirect=307;location=http://elsewhere/       -> RedirectFault
    gzip_bomb=500;size=67108864                   -> GzipBombFault
    not_stream;content_type=text/html             -> NotStreamFault

``after`` counts stream frames (SSE events, data chunks or comments) sent
before the fault.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from attrs import define

__all__ = [
    "DripFault",
    "DropFault",
    "Fault",
    "FaultError",
    "GzipBombFault",
    "KeepAliveFault",
    "MalformedFault",
    "NotStreamFault",
    "RedirectFault",
    "StallFault",
    "StatusFault",
    "StreamErrorFault",
    "parse_fault",
]


class FaultError(ValueError):
    """An ``x-emulator-fault`` header that cannot be understood."""


@define(frozen=True, slots=True)
class StatusFault:
    """Answer with an error status (no stream), in the API's error shape."""

    status: int = 429
    retry_after: float | None = None
    message: str | None = None


@define(frozen=True, slots=True)
class StreamErrorFault:
    """After ``after`` frames, send the API's mid-stream error and end the stream.

    Anthropic: ``event: error`` with ``overloaded_error``. OpenRouter: a chunk
    with a top-level ``error`` (``code``) and ``finish_reason: "error"``.
    """

    after: int = 1
    code: int = 502


@define(frozen=True, slots=True)
class DropFault:
    """Send the first ``after_bytes`` bytes of the body, then drop the connection."""

    after_bytes: int = 0


@define(frozen=True, slots=True)
class StallFault:
    """After ``after`` frames, send nothing for ``seconds`` (or until shutdown), then go on.

    ``before_headers`` stalls before the response starts instead: no status line
    yet, and the request's cache writes are not visible to other requests yet.
    """

    seconds: float = 3600.0
    after: int = 0
    before_headers: bool = False


@define(frozen=True, slots=True)
class MalformedFault:
    """After ``after`` frames, send one frame of invalid JSON and end the stream."""

    after: int = 1


@define(frozen=True, slots=True)
class DripFault:
    """Send the body ``chunk`` bytes at a time, ``delay`` seconds apart."""

    chunk: int = 3
    delay: float = 0.001


@define(frozen=True, slots=True)
class KeepAliveFault:
    """After ``after`` frames, send only keep-alives, every ``interval`` seconds, forever.

    Anthropic: ``ping`` events. OpenRouter: chunks with empty ``choices``. The
    stream looks alive and makes no progress, until the client leaves.
    """

    after: int = 0
    interval: float = 0.05


@define(frozen=True, slots=True)
class RedirectFault:
    """Answer with a redirect ``status`` to ``location``, before any body."""

    status: int = 307
    location: str = "http://127.0.0.1:9/elsewhere"


@define(frozen=True, slots=True)
class GzipBombFault:
    """An error ``status`` whose gzip body decompresses to ``size`` bytes (mostly spaces)."""

    status: int = 500
    size: int = 64 * 1024 * 1024


@define(frozen=True, slots=True)
class NotStreamFault:
    """Answer a streaming request with a 200 that is not an event stream.

    ``application/json``: the complete, non-streamed answer. Any other
    ``content_type``: a small page of that type (a proxy's or captive portal's).
    """

    content_type: str = "application/json"


Fault: TypeAlias = (
    StatusFault
    | StreamErrorFault
    | DropFault
    | StallFault
    | MalformedFault
    | DripFault
    | KeepAliveFault
    | RedirectFault
    | GzipBombFault
    | NotStreamFault
)


def _number(kind: str, key: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise FaultError(f"x-emulator-fault {kind}: {key}={raw!r} is not a number") from None


def _count(kind: str, key: str, raw: str) -> int:
    value = _number(kind, key, raw)
    if value < 0 or not value.is_integer():
        raise FaultError(f"x-emulator-fault {kind}: {key}={raw!r} is not a count")
    return int(value)


def _flag(kind: str, key: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise FaultError(f"x-emulator-fault {kind}: {key}={raw!r} is not true or false")


def parse_fault(header: str) -> Fault:
    """The fault an ``x-emulator-fault`` header names; raises :class:`FaultError`."""
    parts = [p.strip() for p in header.split(";") if p.strip()]
    if not parts:
        raise FaultError("x-emulator-fault is empty")
    kind, _, head_value = parts[0].partition("=")
    kind = kind.strip().lower()
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            raise FaultError(f"x-emulator-fault {kind}: {part!r} is not key=value")
        params[key.strip().lower()] = value.strip()
    builders: dict[str, tuple[set[str], Callable[[], Fault]]] = {
        "status": (
            {"retry_after", "message"},
            lambda: StatusFault(
                _count(kind, "status", head_value or "429"),
                _number(kind, "retry_after", params["retry_after"])
                if "retry_after" in params
                else None,
                params.get("message"),
            ),
        ),
        "stream_error": (
            {"after", "code"},
            lambda: StreamErrorFault(
                _count(kind, "after", params.get("after", "1")),
                _count(kind, "code", params.get("code", head_value or "502")),
            ),
        ),
        "drop": (
            {"after_bytes"},
            lambda: DropFault(
                _count(kind, "after_bytes", params.get("after_bytes", head_value or "0"))
            ),
        ),
        "stall": (
            {"seconds", "after", "before_headers"},
            lambda: StallFault(
                _number(kind, "seconds", params.get("seconds", head_value or "3600")),
                _count(kind, "after", params.get("after", "0")),
                _flag(kind, "before_headers", params.get("before_headers", "false")),
            ),
        ),
        "malformed": (
            {"after"},
            lambda: MalformedFault(_count(kind, "after", params.get("after", head_value or "1"))),
        ),
        "drip": (
            {"chunk", "delay"},
            lambda: DripFault(
                _count(kind, "chunk", params.get("chunk", head_value or "3")),
                _number(kind, "delay", params.get("delay", "0.001")),
            ),
        ),
        "keepalive": (
            {"after", "interval"},
            lambda: KeepAliveFault(
                _count(kind, "after", params.get("after", head_value or "0")),
                _number(kind, "interval", params.get("interval", "0.05")),
            ),
        ),
        "redirect": (
            {"location"},
            lambda: RedirectFault(
                _count(kind, "status", head_value or "307"),
                params.get("location", "http://127.0.0.1:9/elsewhere"),
            ),
        ),
        "gzip_bomb": (
            {"size"},
            lambda: GzipBombFault(
                _count(kind, "status", head_value or "500"),
                _count(kind, "size", params.get("size", str(64 * 1024 * 1024))),
            ),
        ),
        "not_stream": (
            {"content_type"},
            lambda: NotStreamFault(params.get("content_type", head_value or "application/json")),
        ),
    }
    if kind not in builders:
        raise FaultError(f"x-emulator-fault: unknown fault {kind!r}; known: {', '.join(builders)}")
    allowed, build = builders[kind]
    unknown = set(params) - allowed
    if unknown:
        raise FaultError(
            f"x-emulator-fault {kind}: unknown parameter(s) {', '.join(sorted(unknown))}"
        )
    fault = build()
    if isinstance(fault, DripFault) and fault.chunk < 1:
        raise FaultError("x-emulator-fault drip: chunk must be at least 1")
    if isinstance(fault, RedirectFault) and not 300 <= fault.status <= 399:
        raise FaultError("x-emulator-fault redirect: the status must be 3xx")
    if isinstance(fault, KeepAliveFault) and not fault.interval > 0:
        raise FaultError("x-emulator-fault keepalive: interval must be positive")
    return fault
