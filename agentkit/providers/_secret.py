"""The API key: held in one object that never shows it, and put on a request last.

A provider keeps its key in a :class:`Secret` (``repr`` and ``str`` show
``Secret('***')``) and hands httpx a :class:`KeyAuth`, whose auth flow writes
the header onto the outgoing request inside httpx's send. So no agentkit
frame that can end up in an error's traceback holds the key in a plain local
(traceback renderers that show locals, such as rich's or the structured
``dict_tracebacks``, and error trackers, print every local of every frame).
The flow also refuses to add the key to a request for another origin.
"""

from __future__ import annotations

from collections.abc import Generator

import httpx

__all__ = ["KeyAuth", "Secret", "origin_of"]


class Secret:
    """A string that is never shown: ``repr`` and ``str`` say ``Secret('***')``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a secret must be a str, got {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """The secret itself: only for the code that puts it on the wire."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port made explicit."""
    port = url.port
    if port is None:
        port = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


class KeyAuth(httpx.Auth):
    """Sets ``header: prefix + key`` on requests to ``origin``; any other origin gets no key."""

    def __init__(self, header: str, prefix: str, key: Secret, origin: httpx.URL) -> None:
        self._header = header
        self._prefix = prefix
        self._key = key
        self._origin = origin_of(origin)

    def __repr__(self) -> str:
        return f"KeyAuth(header={self._header!r}, key={self._key!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin_of(request.url) == self._origin:
            request.headers[self._header] = self._prefix + self._key.reveal()
        yield request
