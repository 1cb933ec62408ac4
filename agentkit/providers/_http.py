"""What the HTTP providers share: timeouts, retries, error mapping and SSE reading.

A request is retried only before the first byte of its body has been read:
on HTTP 408/429/500/502/503/504/529, on connection failures and on response
headers that take longer than the idle timeout, with
exponential backoff and jitter, honouring ``Retry-After`` up to
``max_retry_delay``. Once streaming has begun, nothing is retried: the
caller gets a typed error and the partial answer is not replayed.
"""

from __future__ import annotations

import ipaddress
import json
import random
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import httpx
from attrs import define, field

from agentkit._errors import ProviderError
from agentkit._log import get_logger
from agentkit.providers._body import ACCEPT_ENCODING, BodyPieces
from agentkit.providers._errors import (
    MIN_REDACTED_LENGTH,
    AuthenticationError,
    ProviderConnectionError,
    RedirectError,
    ResponseFormatError,
    StreamStalledError,
    error_from_response,
    parse_retry_after,
    redact,
)
from agentkit.providers._secret import KeyAuth, Secret
from agentkit.providers._sse import ServerSentEvent, SSEDecoder
from agentkit.providers._usage import PriceNotices

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

__all__ = ["HTTPProviderBase", "RetryPolicy", "SSEReader", "Timeouts", "request_id_of"]

_log = get_logger("agentkit.providers")

T = TypeVar("T")

_MAX_ERROR_BODY = 64 * 1024
_MAX_WHOLE_ANSWER = 16 * 1024 * 1024  # a non-streamed answer, decompressed
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


def _optional_positive(instance: Any, attribute: Any, value: float | None) -> None:
    if value is not None:
        _positive(instance, attribute, value)


@define(frozen=True, slots=True)
class Timeouts:
    """Seconds to wait.

    ``idle`` bounds the wait for the response headers (from sending the
    request, connecting included), and then the time
    spent waiting for bytes since the last *progress*: a content delta, a
    usage or a stop event. Keep-alives (Anthropic ``ping`` events, chunks
    with empty ``choices``, SSE comments) are not progress, so they cannot
    keep a dead stream alive. ``total``, when set, bounds one request from
    start to end, retries and backoff included. httpx's own read timeout is
    only a backstop, well above ``idle``.
    """

    connect: float = field(default=10.0, validator=_positive)
    write: float = field(default=30.0, validator=_positive)
    pool: float = field(default=10.0, validator=_positive)
    idle: float = field(default=120.0, validator=_positive)
    total: float | None = field(default=None, validator=_optional_positive)

    @property
    def read_backstop(self) -> float:
        """httpx's read timeout: never the one that fires while the idle clock works."""
        return max(self.idle * 2, self.idle + 30.0)

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect, read=self.read_backstop, write=self.write, pool=self.pool
        )


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


def stall_message(provider: str, idle: float) -> str:
    """The one message of every stall, whichever clock noticed it."""
    return f"{provider}: no progress for {idle:g} s; the stream stalled"


@define(frozen=True, slots=True)
class _Deadline:
    """The end of one request's ``Timeouts.total`` (a time on anyio's clock)."""

    at: float
    total: float

    def left(self) -> float:
        return self.at - anyio.current_time()

    def error(self, provider: str) -> StreamStalledError:
        # Raised, never a cancellation: a cancellation would end the stream as aborted.
        return StreamStalledError(
            f"{provider}: the request did not finish within its deadline of {self.total:g} s",
            retryable=False,
        )


class SSEReader:
    """Async iterator of event batches from a response body, with the idle clock.

    Each ``__anext__`` returns the (non-empty) list of events completed by the
    bytes read, every ``data`` already redacted. The idle clock counts only
    time spent waiting for bytes, and restarts only when the consumer calls
    :meth:`progress`: events that carry nothing (pings, empty chunks) do not
    restart it, and a slow consumer is never "idle".
    """

    __slots__ = (
        "_body",
        "_deadline",
        "_decoder",
        "_done",
        "_idle",
        "_left",
        "_preloaded",
        "_provider",
        "_scrub",
        "_secrets",
    )

    def __init__(
        self,
        body: BodyPieces | None,
        *,
        idle: float,
        provider: str,
        scrub: Callable[[str], str] = str,
        secrets: tuple[str, ...] = (),
        preloaded: list[ServerSentEvent] | None = None,
        deadline: _Deadline | None = None,
    ) -> None:
        self._body = body
        self._deadline = deadline
        self._decoder = SSEDecoder()
        self._idle = idle
        self._left = idle
        self._done = body is None
        self._provider = provider
        self._scrub = scrub
        # The secrets ``scrub`` would replace: an event holding none of them (a
        # substring search, in C) is passed as it is, so redaction costs next to
        # nothing per event.
        self._secrets = tuple(s for s in secrets if len(s) >= MIN_REDACTED_LENGTH)
        self._preloaded = preloaded

    @classmethod
    def of_events(cls, events: list[ServerSentEvent], *, provider: str) -> SSEReader:
        """A reader that yields ``events`` as one batch (an answer that came whole)."""
        return cls(None, idle=1.0, provider=provider, preloaded=events)

    def __aiter__(self) -> SSEReader:
        return self

    def progress(self) -> None:
        """The consumer saw progress: restart the idle clock."""
        self._left = self._idle

    async def _read(self) -> bytes | None:
        """The next piece of body, None at its end; a stall when the clock runs out."""
        assert self._body is not None
        # One clock read before the wait and one after it: the scope gets an
        # absolute deadline (``move_on_after`` would read the clock again).
        started = anyio.current_time()
        deadline = self._deadline
        end = started + self._left
        if deadline is not None and deadline.at < end:
            end = deadline.at
        piece: bytes | None = None
        with anyio.CancelScope(deadline=end) as scope:
            try:
                piece = await self._body.__anext__()
            except StopAsyncIteration:
                piece = None
        if scope.cancelled_caught:
            if deadline is not None and deadline.left() <= 0:
                raise deadline.error(self._provider)
            raise StreamStalledError(stall_message(self._provider, self._idle), retryable=True)
        self._left -= anyio.current_time() - started
        return piece

    async def __anext__(self) -> list[ServerSentEvent]:
        if self._preloaded is not None:
            events, self._preloaded = self._preloaded, None
            if events:
                return events
        while not self._done:
            piece = await self._read()
            if piece is None:
                self._done = True
                events = self._decoder.close()
            else:
                events = self._decoder.feed(piece)
            del piece  # raw bytes stay out of any traceback's locals
            if events:
                secrets = self._secrets
                if not secrets:
                    return events
                scrub = self._scrub
                return [
                    e._replace(data=scrub(e.data)) if any(s in e.data for s in secrets) else e
                    for e in events
                ]
        raise StopAsyncIteration

    async def read_all(self, *, max_bytes: int) -> str:
        """The whole body as text (redacted), for an answer that is not an event stream.

        Each piece read counts as progress; more than ``max_bytes`` is a
        :class:`ResponseFormatError`.
        """
        data = bytearray()
        while not self._done:
            piece = await self._read()
            if piece is None:
                self._done = True
                break
            data += piece
            self.progress()
            if len(data) > max_bytes:
                raise ResponseFormatError(
                    f"{self._provider}: the answer body exceeds {max_bytes} bytes"
                )
        return self._scrub(data.decode("utf-8", "replace"))

    async def drain(self) -> None:
        """Read what is left of a finished answer's body (usually nothing) to its end.

        Raw bytes, not decompressed, within bounds (see
        :meth:`BodyPieces.discard_rest`). Called after the answer was handed
        on, so it never delays the caller.
        """
        if self._done or self._body is None:
            return
        self._done = await self._body.discard_rest()

    async def aclose(self) -> None:
        """Finalize the body iterator now (also when the answer ended before the body did)."""
        self._done = True
        if self._body is not None:
            with anyio.CancelScope(shield=True):
                await self._body.aclose()


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _detach_traceback(exc: BaseException) -> BaseException:
    """``exc`` and the exceptions chained to it, without their tracebacks.

    The frames of httpx, httpcore and h11 hold the outgoing request's headers,
    API key included, in their locals; a transport exception kept as an
    error's ``__cause__`` keeps its type and message but none of those frames.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__
    return exc


class HTTPProviderBase:
    """Keys, base URL, client ownership, retries and error mapping for one service."""

    name: str = "http"
    _key_variable: str | None = None  # set when the service needs a key
    _key_header: tuple[str, str] = ("authorization", "Bearer ")  # (header, value prefix)

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        client: httpx.AsyncClient | None,
        timeouts: Timeouts | None,
        retry: RetryPolicy | None,
        allow_insecure_http: bool = False,
    ) -> None:
        self._api_key = Secret(api_key or "")
        self.base_url = base_url.rstrip("/")
        url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
        if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
            raise ValueError(
                f"base_url {base_url!r} is plain http:// to a host that is not loopback: "
                "the key and the conversation would cross the network unencrypted; use "
                "https://, or pass allow_insecure_http=True if that network is trusted"
            )
        self._origin = url
        self._client = client
        self._owns_client = client is None
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._price_notices = PriceNotices()

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<{key}>)"

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self._api_key.reveal(),) if self._api_key else ()

    def _redact(self, text: str) -> str:
        """The one redaction boundary: every text from the service passes here once."""
        return redact(text, self._secrets)

    def _auth(self) -> Any:  # httpx.Auth, or httpx's marker for the client's default
        if not self._api_key:
            return httpx.USE_CLIENT_DEFAULT
        header, prefix = self._key_header
        return KeyAuth(header, prefix, self._api_key, self._origin)

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

    def _answer_events(self, answer: Any) -> list[ServerSentEvent] | None:
        """The events equivalent to a whole JSON answer, or None if it is not one."""
        return None

    async def _post_stream(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str],
        consume: Callable[[httpx.Response, SSEReader], Awaitable[T]],
        finish: Callable[[T], None],
    ) -> None:
        """POST ``body``; retry failures before streaming; hand what ``consume`` makes to
        ``finish``, then read the rest of the body."""
        total = self.timeouts.total
        deadline = None if total is None else _Deadline(anyio.current_time() + total, total)
        client = self._get_client()
        timeout = self.timeouts.to_httpx()
        headers = {**headers, "accept-encoding": ACCEPT_ENCODING}
        attempt = 0
        while True:
            error: ProviderError | None = None
            try:
                response = await self._send(client, url, body, headers, timeout, deadline)
            except ProviderError as exc:  # the response headers took too long
                error, response = exc, None
            except httpx.TransportError as exc:
                error = self._connection_error(exc, before_body=True)
                error.__cause__ = _detach_traceback(exc)
                response = None
            if response is not None:
                try:
                    if response.status_code < 300:
                        await self._run_consumer(response, consume, finish, deadline)
                        return
                    error = await self._error_for(response)
                finally:
                    with anyio.CancelScope(shield=True):
                        await response.aclose()
            assert error is not None
            if (
                attempt >= self.retry.max_retries
                or not error.retryable
                or (error.status is not None and error.status not in self.retry.statuses)
            ):
                raise error
            delay = self.retry.delay(attempt, error.retry_after)
            if deadline is not None and deadline.left() <= delay:
                raise error  # the deadline would pass while waiting to retry
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

    async def _send(
        self,
        client: httpx.AsyncClient,
        url: str,
        body: bytes,
        headers: dict[str, str],
        http_timeout: httpx.Timeout,
        deadline: _Deadline | None,
    ) -> httpx.Response | None:
        """The response with its headers read; a retryable stall when they take too long.

        Redirects are never followed, whatever the client says: following one
        could take the key to another origin.
        """
        request = client.build_request(
            "POST", url, content=body, headers=headers, timeout=http_timeout
        )
        response: httpx.Response | None = None
        wait = self.timeouts.idle if deadline is None else min(self.timeouts.idle, deadline.left())
        with anyio.move_on_after(wait) as waiting:
            response = await client.send(
                request, stream=True, auth=self._auth(), follow_redirects=False
            )
        if waiting.cancelled_caught:
            if deadline is not None and deadline.left() <= 0:
                raise deadline.error(self.name)
            raise StreamStalledError(stall_message(self.name, self.timeouts.idle), retryable=True)
        return response

    async def _run_consumer(
        self,
        response: httpx.Response,
        consume: Callable[[httpx.Response, SSEReader], Awaitable[T]],
        finish: Callable[[T], None],
        deadline: _Deadline | None = None,
    ) -> None:
        request_id = self._request_id(response)
        body: SSEReader | None = None
        try:
            body = SSEReader(
                BodyPieces(response, provider=self.name),
                idle=self.timeouts.idle,
                provider=self.name,
                scrub=self._redact,
                secrets=self._secrets,
                deadline=deadline,
            )
            reader = body
            media_type = response.headers.get("content-type", "").partition(";")[0]
            media_type = media_type.strip().lower()
            if media_type and media_type != "text/event-stream":
                reader = await self._whole_answer(body, media_type, request_id)
            result = await consume(response, reader)
        except ProviderError as exc:
            if exc.request_id is None:
                exc.request_id = request_id
            if body is not None:
                await body.drain()  # the service usually ends the body right after an error
                await body.aclose()
            raise
        except httpx.TimeoutException as exc:
            stalled = StreamStalledError(
                stall_message(self.name, self.timeouts.idle),
                request_id=request_id,
                retryable=True,
            )
            stalled.request_usage = getattr(exc, "request_usage", None)
            raise stalled from _detach_traceback(exc)
        except httpx.TransportError as exc:
            failed = self._connection_error(exc, before_body=False)
            failed.request_usage = getattr(exc, "request_usage", None)
            raise failed from _detach_traceback(exc)
        finally:
            if body is not None and sys.exc_info()[0] is not None:
                await body.aclose()
        finish(result)  # before draining: a body held open must not delay the answer
        try:
            await body.drain()
        finally:
            await body.aclose()

    async def _whole_answer(
        self, reader: SSEReader, media_type: str, request_id: str | None
    ) -> SSEReader:
        """A reader over a 200 answer that is not an event stream, if it is a complete answer."""
        text = await reader.read_all(max_bytes=_MAX_WHOLE_ANSWER)
        answer: Any = None
        if media_type == "application/json" or media_type.endswith("+json"):
            try:
                answer = json.loads(text)
            except (ValueError, RecursionError):
                answer = None
        events = self._answer_events(answer) if answer is not None else None
        if events is None:
            raise ResponseFormatError(
                f"{self.name}: expected an event stream, got a {media_type[:100]} answer "
                f"that is not a complete answer: {text[:200]!r}",
                request_id=request_id,
            )
        _log.info("provider.whole_answer", provider=self.name, content_type=media_type[:100])
        return SSEReader.of_events(events, provider=self.name)

    def _connection_error(self, exc: httpx.TransportError, *, before_body: bool) -> ProviderError:
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            return StreamStalledError(stall_message(self.name, self.timeouts.idle), retryable=True)
        when = "before the response" if before_body else "while streaming"
        detail = self._redact(f"{type(exc).__name__}: {exc}")
        return ProviderConnectionError(
            f"{self.name}: connection failed {when}: {detail}", retryable=True
        )

    def _request_id(self, response: httpx.Response) -> str | None:
        found = request_id_of(response)
        return None if found is None else self._redact(found)[:200]

    async def _error_for(self, response: httpx.Response) -> ProviderError:
        request_id = self._request_id(response)
        if 300 <= response.status_code < 400:
            location = response.headers.get("location")
            shown = None if location is None else self._redact(location)[:500]
            return RedirectError(
                f"{self.name}: HTTP {response.status_code} redirect to {shown or '(no Location)'}; "
                "redirects are never followed, so the key never goes to another origin: "
                "set base_url to the address the service should be reached at",
                location=shown,
                status=response.status_code,
                request_id=request_id,
            )
        body = bytearray()
        try:
            pieces = BodyPieces(response, provider=self.name)
            try:
                async for piece in pieces:
                    body += piece
                    if len(body) >= _MAX_ERROR_BODY:
                        await pieces.discard_rest()
                        break
            finally:
                await pieces.aclose()
        except (httpx.TransportError, ResponseFormatError):
            pass  # the status alone still gives a typed error
        text = self._redact(bytes(body[:_MAX_ERROR_BODY]).decode("utf-8", "replace"))
        del body
        return error_from_response(
            response.status_code,
            text.encode(),
            provider=self.name,
            request_id=request_id,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )


def request_id_of(response: httpx.Response) -> str | None:
    """The service's id for this request, from the first header that carries one."""
    headers = response.headers
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None
