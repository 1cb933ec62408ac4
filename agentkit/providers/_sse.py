"""An incremental Server-Sent Events decoder, fed bytes as they arrive.

Follows the WHATWG ``text/event-stream`` rules: lines end with CR, LF or
CRLF (also when a CRLF is split between chunks); a leading byte-order mark is
dropped; lines starting with ``:`` are comments; ``event:``, ``data:``,
``id:`` and ``retry:`` fields; one space after the colon is removed; several
``data:`` lines join with ``"\\n"``; a blank line dispatches the event; an
event without any ``data:`` line is not dispatched; unknown fields are ignored.

Two deliberate choices:

* Invalid UTF-8 raises :class:`SSEDecodeError` instead of being replaced with
  U+FFFD, so damaged JSON never passes silently. A character split between
  chunks is decoded once its last byte arrives.
* At end of stream (:meth:`SSEDecoder.close`) a final event that lacks its
  closing blank line is still dispatched. The spec discards it, but real
  servers and recordings end that way; a truncated event then shows up as
  malformed JSON to the caller, never as a silent loss.
"""

from __future__ import annotations

import codecs
import json
import json.scanner
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from agentkit.providers._errors import SSEDecodeError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent", "loads_data"]

DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024  # characters buffered for one line or event


# The C scanner behind ``json.loads``, called directly: ``json.loads`` adds a
# type check, ``JSONDecoder.decode`` and two whitespace regex matches around it
# on every event, about a third of the cost of parsing a short delta chunk.
_scan_once: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    cast("Any", json.JSONDecoder())  # typeshed types the argument wrongly
)


def loads_data(data: str) -> Any:
    """``json.loads(data)`` for an event's ``data``: the same value or the same error.

    A document with whitespace around it, trailing text or an error falls back
    to ``json.loads`` itself, so errors and edge cases are exactly its own.
    """
    try:
        value, end = _scan_once(data, 0)
    except StopIteration:
        return json.loads(data)  # raises json's own JSONDecodeError
    if end != len(data):
        return json.loads(data)
    return value


class ServerSentEvent(NamedTuple):
    """One dispatched event. ``event`` is ``"message"`` when the server named none.

    A named tuple rather than an attrs class: one is made per event on the
    streaming hot path, and a tuple is built several times faster.
    """

    event: str
    data: str
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    """Turns byte chunks into :class:`ServerSentEvent` values.

    Call :meth:`feed` with each chunk (it returns the events completed by it)
    and :meth:`close` once at end of stream. Splitting the same bytes into
    chunks differently never changes the events.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_decoder",
        "_event",
        "_last_id",
        "_max_size",
        "_pending",
        "_pending_size",
        "_retry",
        "_skip_lf",
    )

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self._pending: list[str] = []  # the unfinished last line, in pieces
        self._pending_size = 0
        self._skip_lf = False  # the previous chunk ended with CR: drop a leading LF
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._last_id = ""
        self._retry: int | None = None
        self._max_size = max_event_size

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Decode ``chunk``; return the events it completes (often none or one)."""
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise SSEDecodeError(f"event stream is not valid UTF-8: {exc.reason}") from None
        return self._feed_text(text, final=False)

    def close(self) -> list[ServerSentEvent]:
        """End of stream: return the last event if one is still open."""
        try:
            text = self._decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise SSEDecodeError(
                f"event stream ends inside a UTF-8 character: {exc.reason}"
            ) from None
        events = self._feed_text(text, final=True)
        if self._pending:
            line = "".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
            events.extend(self._feed_text(line + "\n", final=True))
        event = self._dispatch()
        if event is not None:
            events.append(event)
        return events

    def _feed_text(self, text: str, *, final: bool) -> list[ServerSentEvent]:
        if not text:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            if text[-1] == "\r" and not final:
                self._skip_lf = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._pending.append(text)
            self._pending_size += len(text)
            if self._pending_size > self._max_size:
                raise SSEDecodeError(f"an event stream line exceeds {self._max_size} characters")
            return []
        lines = text.split("\n")
        if self._pending:
            self._pending.append(lines[0])
            lines[0] = "".join(self._pending)
            self._pending.clear()
            self._pending_size = 0
        rest = lines.pop()
        if rest:
            self._pending.append(rest)
            self._pending_size = len(rest)
            if self._pending_size > self._max_size:
                raise SSEDecodeError(f"an event stream line exceeds {self._max_size} characters")
        events: list[ServerSentEvent] = []
        data = self._data
        for line in lines:
            # The hot path (``data: {...}`` and the blank line after it) is inlined.
            if not line:
                if data:
                    text = data[0] if len(data) == 1 else "\n".join(data)
                    name = self._event or "message"
                    events.append(ServerSentEvent(name, text, self._last_id, self._retry))
                    data.clear()
                    self._data_size = 0
                    self._retry = None
                self._event = ""
            elif line.startswith("data: "):
                data.append(line[6:])
                self._data_size += len(line) - 5
                if self._data_size > self._max_size:
                    raise SSEDecodeError(f"an event's data exceeds {self._max_size} characters")
            elif line.startswith("event: "):  # Anthropic names every event
                self._event = line[7:]
            else:
                self._line(line)
        return events

    def _line(self, line: str) -> None:
        if line[0] == ":":
            return  # a comment, e.g. ": OPENROUTER PROCESSING"
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._add_data(value)
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _add_data(self, value: str) -> None:
        self._data.append(value)
        self._data_size += len(value) + 1
        if self._data_size > self._max_size:
            raise SSEDecodeError(f"an event's data exceeds {self._max_size} characters")

    def _dispatch(self) -> ServerSentEvent | None:
        data = self._data
        event_name = self._event or "message"
        self._event = ""
        if not data:
            return None
        text = data[0] if len(data) == 1 else "\n".join(data)
        data.clear()
        self._data_size = 0
        retry, self._retry = self._retry, None
        return ServerSentEvent(event_name, text, self._last_id, retry)
