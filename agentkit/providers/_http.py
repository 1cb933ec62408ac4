"""What the HTTP providers share: timeouts, retries, error mapping and SSE reading.

A request is retried only before the first byte of its body has been read:
on HTTP 408/429/500/502/503/504/529 and on connection failures, with
exponential backoff and jitter, honouring ``Retry-After`` up to
``max_retry_delay``. Once streaming has begun, nothing is retried: the
caller gets a typed error and the partial answer is not replayed.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import httpx
from attrs import define, field

from agentkit._log import get_logger
from agentkit.errors import ProviderError
from agentkit.providers.errors import (
    AuthenticationError,
    ProviderConnectionError,
    StreamStalledError,
    error_from_response,
    parse_retry_after,
    redact,
)
from agentkit.providers.sse import ServerSentEvent, SSEDecoder

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

__all__ = ["HTTPProviderBase", "RetryPolicy", "SSEReader", "Timeouts", "request_id_of"]

_log = get_logger("agentkit.providers")

T = TypeVar("T")

_MAX_ERROR_BODY = 64 * 1024
_REQUEST_ID_HEADERS = ("request-id", "x-request-id", "x-generation-id")


def _number(attribute: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number of seconds, got {value!r}")


def _non_negative(_: Any, attribute: Any, value: float) -> None:
    _number(attribute, value)
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be a non-negative number, got {value!r}")


def _positive(_: Any, attribute: Any, value: float) -> None:
    _number(attribute, value)
    if not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


@define(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait. ``idle`` bounds the wait for the response headers and
    the gap between two SSE events (comments do not count as events)."""

    connect: float = field(default=10.0, validator=_positive)
    write: float = field(default=30.0, validator=_positive)
    pool: float = field(default=10.0, validator=_positive)
    idle: float = field(default=120.0, validator=_positive)

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.idle, write=self.write, pool=self.pool)


@define(frozen=True, slots=True)
class RetryPolicy:
    """Retries before streaming begins. Delay n (from 0) is ``base_delay * 2**n``
    with up to half of it taken off at random, or ``Retry-After`` when the
    service sends it; never more than ``max_retry_delay``."""

    max_retries: int = field(default=2)
    base_delay: float = field(default=0.5, validator=_non_negative)
    max_retry_delay: float = field(default=30.0, validator=_non_negative)
    statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504, 529})

    def __attrs_post_init__(self) -> None:
        retries = self.max_retries
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"max_retries must be a non-negative int, got {self.max_retries!r}")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_delay)
        full = float(self.base_delay * (2**attempt))
        return min(full - random.random() * full / 2, self.max_retry_delay)


class SSEReader:
    """Async iterator of event batches from a response body, with the idle timeout.

    Each ``__anext__`` returns the (non-empty) list of events completed by the
    bytes read; the idle clock counts only time spent waiting for bytes and
    restarts whenever an event arrives, so a slow consumer is never "idle".
    """

    __slots__ = ("_bytes", "_decoder", "_done", "_idle", "_left", "_provider")

    def __init__(self, response: httpx.Response, *, idle: float, provider: str) -> None:
        self._bytes = response.aiter_bytes()
        self._decoder = SSEDecoder()
        self._idle = idle
        self._left = idle
        self._done = False
        self._provider = provider

    def __aiter__(self) -> SSEReader:
        return self

    async def __anext__(self) -> list[ServerSentEvent]:
        while not self._done:
            started = anyio.current_time()
            chunk = b""
            with anyio.move_on_after(self._left) as scope:
                try:
                    chunk = await self._bytes.__anext__()
                except StopAsyncIteration:
                    self._done = True
            if scope.cancelled_caught:
                raise StreamStalledError(
                    f"{self._provider}: no event for {self._idle:g} s; the stream stalled",
                    retryable=True,
                )
            events = self._decoder.close() if self._done else self._decoder.feed(chunk)
            if events:
                self._left = self._idle
                return events
            self._left -= anyio.current_time() - started
        raise StopAsyncIteration

    async def drain(self, *, max_bytes: int = 64 * 1024, seconds: float = 0.5) -> None:
        """Read what is left of a finished answer's body (usually nothing) to its end.

        Reaching the end of the body lets httpx finish its chain of async
        generators normally; abandoning them makes trio warn (httpx #3686).
        Bytes after the answer's final event carry nothing we use.
        """
        if self._done:
            return
        seen = 0
        with anyio.move_on_after(seconds):
            try:
                async for chunk in self._bytes:
                    seen += len(chunk)
                    if seen > max_bytes:
                        return
            except httpx.TransportError:
                return
        self._done = True

    async def aclose(self) -> None:
        """Finalize the body iterator now (also when the answer ended before the body did)."""
        self._done = True
        with anyio.CancelScope(shield=True):
            await self._bytes.aclose()  # type: ignore[attr-defined]


class HTTPProviderBase:
    """Keys, base URL, client ownership, retries and error mapping for one service."""

    name: str = "http"
    _key_variable: str | None = None  # set when the service needs a key

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        client: httpx.AsyncClient | None,
        timeouts: Timeouts | None,
        retry: RetryPolicy | None,
    ) -> None:
        self._api_key = api_key or ""
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._owns_client = client is None
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<{key}>)"

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key,) if self._api_key else ()

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    def _check_key(self) -> None:
        if self._key_variable and not self._api_key:
            raise AuthenticationError(
                f"{self.name}: no API key; pass api_key= or set {self._key_variable}"
            )

    def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeouts.to_httpx())
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client if this provider created it (a shared one is left open)."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _post_stream(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        consume: Callable[[httpx.Response, SSEReader], Awaitable[T]],
    ) -> T:
        """POST ``body``; retry failures before streaming; then return what ``consume`` makes."""
        client = self._get_client()
        timeout = self.timeouts.to_httpx()
        attempt = 0
        while True:
            error: ProviderError
            streamed = False
            try:
                async with client.stream(
                    "POST", url, content=body, headers=headers, timeout=timeout
                ) as response:
                    if response.status_code < 400:
                        streamed = True
                        return await self._run_consumer(response, consume)
                    error = await self._error_for(response)
            except httpx.TransportError as exc:
                if streamed:  # e.g. closing the response failed: never retried
                    raise self._connection_error(exc, before_body=False) from exc
                error = self._connection_error(exc, before_body=True)
                error.__cause__ = exc
            if (
                attempt >= self.retry.max_retries
                or not error.retryable
                or (error.status is not None and error.status not in self.retry.statuses)
            ):
                raise error
            delay = self.retry.delay(attempt, error.retry_after)
            attempt += 1
            _log.warning(
                "provider.retry",
                provider=self.name,
                attempt=attempt,
                status=error.status,
                error=type(error).__name__,
                delay=round(delay, 3),
            )
            await anyio.sleep(delay)

    async def _run_consumer(
        self,
        response: httpx.Response,
        consume: Callable[[httpx.Response, SSEReader], Awaitable[T]],
    ) -> T:
        reader = SSEReader(response, idle=self.timeouts.idle, provider=self.name)
        try:
            result = await consume(response, reader)
            await reader.drain()
            return result
        except ProviderError:
            await reader.drain()  # the service usually ends the body right after an error
            raise
        except httpx.TimeoutException as exc:
            raise StreamStalledError(
                f"{self.name}: no data for {self.timeouts.idle:g} s; the stream stalled",
                request_id=request_id_of(response),
                retryable=True,
            ) from exc
        except httpx.TransportError as exc:
            raise self._connection_error(exc, before_body=False) from exc
        finally:
            await reader.aclose()

    def _connection_error(self, exc: httpx.TransportError, *, before_body: bool) -> ProviderError:
        when = "before the response" if before_body else "while streaming"
        detail = self._redact(f"{type(exc).__name__}: {exc}")
        return ProviderConnectionError(
            f"{self.name}: connection failed {when}: {detail}", retryable=True
        )

    async def _error_for(self, response: httpx.Response) -> ProviderError:
        body = bytearray()
        try:
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= _MAX_ERROR_BODY:
                    break
        except httpx.TransportError:
            pass  # the status alone still gives a typed error
        return error_from_response(
            response.status_code,
            bytes(body),
            provider=self.name,
            request_id=request_id_of(response),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
            secrets=self._secrets,
        )


def request_id_of(response: httpx.Response) -> str | None:
    """The service's id for this request, from the first header that carries one."""
    headers = response.headers
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None
