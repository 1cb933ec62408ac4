"""CountingTransport: an httpx transport that counts the responses left open.

Give it to the ``httpx.AsyncClient`` a provider uses, run anything, and check
``transport.open == 0``: every response the provider opened was closed, also
when the run failed, was aborted, or its consumer left early.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

__all__ = ["CountingTransport"]


class CountingTransport(httpx.AsyncHTTPTransport):
    """An ``httpx.AsyncHTTPTransport`` that counts responses ``opened`` and ``closed``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.opened = 0
        self.closed = 0

    @property
    def open(self) -> int:
        """Responses opened and not closed yet."""
        return self.opened - self.closed

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        self.opened += 1
        response.stream = _CountedStream(response.stream, self)
        return response


class _CountedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, transport: CountingTransport) -> None:
        self._inner = inner
        self._transport = transport
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport.closed += 1
        await self._inner.aclose()
