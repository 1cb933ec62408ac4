"""The library's loggers: silent unless the application turns logging on.

A library must not decide where its logs go. structlog left unconfigured
prints every level to stdout, so agentkit does not hand its events to
structlog unless the application has configured it
(:func:`structlog.is_configured`). Otherwise each event goes to the stdlib
logger of the same name (``agentkit._loop``, ``agentkit.providers``, ...),
which has a :class:`logging.NullHandler` (as the logging HOWTO asks of a
library): nothing is shown, at any level, until the application configures
:mod:`logging` (``logging.basicConfig()`` is enough), never the stdlib's
"last resort" print of warnings to stderr.

The level check comes first, so an event nobody listens to costs one
dictionary look-up in :mod:`logging`'s cache and builds nothing.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ["Logger", "get_logger"]

# Records still propagate to the application's handlers; this only stops the
# stdlib printing WARNING and above to stderr when there are none.
logging.getLogger("agentkit").addHandler(logging.NullHandler())


class Logger:
    """A named logger with bound fields; :meth:`bind` returns a new one."""

    __slots__ = ("_context", "_name", "_std")

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._std = logging.getLogger(name)
        self._context: dict[str, Any] = context or {}

    def bind(self, **fields: Any) -> Logger:
        return Logger(self._name, {**self._context, **fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, "error", event, fields)

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            # The application chose structlog: its configuration filters and renders.
            getattr(structlog.get_logger(self._name), method)(event, **{**self._context, **fields})
            return
        if not self._std.isEnabledFor(level):
            return
        merged = {**self._context, **fields}
        rendered = " ".join(f"{key}={value!r}" for key, value in merged.items())
        self._std.log(
            level,
            "%s %s" if rendered else "%s%s",
            event,
            rendered,
            extra={"event": event, "fields": merged},
        )


def get_logger(name: str) -> Logger:
    """The logger named ``name`` (an ``agentkit.*`` name, like the stdlib's)."""
    return Logger(name)
