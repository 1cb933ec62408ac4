"""Response bodies read in bounded pieces, decompressed incrementally.

httpx decompresses each network read whole, so a few kilobytes of gzip can
become gigabytes in one step. Here the raw bytes are decompressed with
``max_length``: no piece is ever larger than :data:`PIECE_SIZE`, whatever the
compression ratio, and a caller that stops reading stops the decompression.
Requests ask for ``gzip, deflate`` only (:data:`ACCEPT_ENCODING`); any other
``Content-Encoding`` is a :class:`~agentkit.ResponseFormatError`.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import AsyncIterator

import anyio
import httpx

from agentkit.providers._errors import ResponseFormatError

__all__ = ["ACCEPT_ENCODING", "PIECE_SIZE", "BodyPieces"]

#: The encodings agentkit can decompress in bounded steps.
ACCEPT_ENCODING = "gzip, deflate"
#: The largest piece of decompressed body handed on at once.
PIECE_SIZE = 64 * 1024


class _Inflater:
    """One ``Content-Encoding`` layer, decompressed at most ``PIECE_SIZE`` bytes at a time."""

    __slots__ = ("_deflate", "_first", "_z")

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        self._first = True
        wbits = zlib.MAX_WBITS | 16 if not self._deflate else zlib.MAX_WBITS
        self._z = zlib.decompressobj(wbits)

    def pieces(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        try:
            chunk = self._z.decompress(data, PIECE_SIZE)
        except zlib.error:
            if not (self._deflate and self._first):
                raise
            # "deflate" is sometimes sent raw, without the zlib header (as httpx allows).
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            chunk = self._z.decompress(data, PIECE_SIZE)
        self._first = False
        if chunk:
            out.append(chunk)
        return out

    def more(self) -> bytes:
        """The next piece from input already given (empty when none is left)."""
        tail = self._z.unconsumed_tail
        return self._z.decompress(tail, PIECE_SIZE) if tail else b""

    def flush(self) -> bytes:
        return self._z.flush()


async def _one(content: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(content), PIECE_SIZE):
        yield content[start : start + PIECE_SIZE]


class BodyPieces:
    """Async iterator of decompressed body pieces of at most :data:`PIECE_SIZE` bytes."""

    __slots__ = ("_inflater", "_pending", "_raw", "_total")

    def __init__(self, response: httpx.Response, *, provider: str) -> None:
        self._pending: deque[bytes] = deque()
        self._total = 0
        try:
            content = response.content  # a response built in memory (httpx.MockTransport)
        except httpx.ResponseNotRead:
            pass
        else:
            self._inflater: _Inflater | None = None
            self._raw: AsyncIterator[bytes] = _one(content)
            return
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            self._inflater = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self._inflater = _Inflater("deflate" if encoding == "deflate" else "gzip")
        else:
            raise ResponseFormatError(
                f"{provider}: the answer uses Content-Encoding {encoding[:100]!r}; "
                f"agentkit asks for {ACCEPT_ENCODING} only",
                status=response.status_code,
            )
        self._raw = response.aiter_raw()

    @property
    def total(self) -> int:
        """Decompressed bytes handed on so far."""
        return self._total

    def __aiter__(self) -> BodyPieces:
        return self

    async def __anext__(self) -> bytes:
        piece = self._next_pending()
        while not piece:
            try:
                raw = await self._raw.__anext__()
            except StopAsyncIteration:
                if self._inflater is not None:
                    tail, self._inflater = self._inflater.flush(), None
                    if tail:
                        return self._count(tail)
                raise
            if self._inflater is None:
                piece = raw
            else:
                try:
                    self._pending.extend(self._inflater.pieces(raw))
                except zlib.error as exc:
                    raise ResponseFormatError(f"the compressed body is damaged: {exc}") from None
                piece = self._next_pending()
        return self._count(piece)

    def _next_pending(self) -> bytes:
        if self._pending:
            return self._pending.popleft()
        if self._inflater is not None:
            try:
                return self._inflater.more()
            except zlib.error as exc:
                raise ResponseFormatError(f"the compressed body is damaged: {exc}") from None
        return b""

    def _count(self, piece: bytes) -> bytes:
        self._total += len(piece)
        return piece

    async def discard_rest(self, *, max_bytes: int = 1024 * 1024, seconds: float = 0.5) -> bool:
        """Read the raw body to its end without decompressing it; False if cut short.

        Reaching the end lets httpx finish its chain of async generators
        normally; abandoning them makes trio warn (httpx #3686).
        """
        seen = 0
        with anyio.move_on_after(seconds):
            try:
                async for raw in self._raw:
                    seen += len(raw)
                    if seen > max_bytes:
                        return False
            except httpx.TransportError:
                return False
            return True
        return False

    async def aclose(self) -> None:
        await self._raw.aclose()  # type: ignore[attr-defined]
