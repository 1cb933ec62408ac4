"""Typed provider errors, and the mapping from HTTP responses to them.

Hierarchy (all under :class:`agentkit.ProviderError`)::

    ProviderError
    ├── AuthenticationError          401: missing, invalid or expired key
    ├── InsufficientCreditsError     402: out of credits / billing problem
    ├── PermissionDeniedError        403: key may not use this model; moderation
    ├── NotFoundError                404: unknown model or endpoint
    ├── BadRequestError              400, 413, 422: the service's own message
    │   └── ContextLengthExceededError   the prompt does not fit the model
    ├── RateLimitError               429 (retryable; ``retry_after`` when given)
    ├── OverloadedError              529, 503 (retryable)
    ├── ServerError                  other 5xx, 408 (retryable)
    ├── MidStreamError               the service reported an error after 200 OK
    ├── StreamStalledError           no event within the idle timeout
    ├── ProviderConnectionError      connecting, sending or reading failed
    ├── RedirectError                a 3xx answer: never followed (never retried)
    └── ResponseFormatError          the service sent data agentkit cannot read
        └── SSEDecodeError           the event stream itself is malformed

Every error carries ``status`` (None without an HTTP status), ``message`` and
``request_id``. Nothing in them contains the API key: every text from the
wire passes :func:`redact` once, where it is read (see docs/reliability.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from agentkit._errors import ProviderError

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ContextLengthExceededError",
    "InsufficientCreditsError",
    "MidStreamError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "MIN_REDACTED_LENGTH",
    "ProviderConnectionError",
    "RateLimitError",
    "RedirectError",
    "ResponseFormatError",
    "SSEDecodeError",
    "ServerError",
    "StreamStalledError",
    "error_from_response",
    "midstream_error",
    "parse_retry_after",
    "redact",
]


class AuthenticationError(ProviderError):
    """The service rejected the API key (HTTP 401)."""


class InsufficientCreditsError(ProviderError):
    """The account has no credits left, or billing failed (HTTP 402)."""


class PermissionDeniedError(ProviderError):
    """The key may not do this: model access, guardrail or moderation (HTTP 403)."""


class NotFoundError(ProviderError):
    """Unknown model or endpoint (HTTP 404)."""


class BadRequestError(ProviderError):
    """The service rejected the request; ``message`` is its own explanation."""


class ContextLengthExceededError(BadRequestError):
    """The prompt (plus ``max_tokens``) does not fit the model's context window."""


class RateLimitError(ProviderError):
    """Too many requests (HTTP 429)."""


class OverloadedError(ProviderError):
    """The service or every upstream is overloaded (HTTP 529 or 503)."""


class ServerError(ProviderError):
    """The service failed (HTTP 5xx other than 503/529, or 408)."""


class MidStreamError(ProviderError):
    """The service reported an error inside the stream, after answering 200 OK.

    ``code`` is the service's code as sent (an int or a string),
    ``error_type`` its type name when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        error_type: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id, retryable=retryable)
        self.code = code
        self.error_type = error_type


class StreamStalledError(ProviderError):
    """No event arrived within the idle timeout: the stream was abandoned."""


class ProviderConnectionError(ProviderError):
    """The connection failed: connecting, sending the request or reading the answer."""


class RedirectError(ProviderError):
    """The service answered with a redirect (HTTP 3xx), which agentkit never follows.

    Following it could send the API key to another origin. ``location`` is
    the ``Location`` header as sent (redacted), or None without one.
    """

    def __init__(
        self,
        message: str,
        *,
        location: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id, retryable=False)
        self.location = location


class ResponseFormatError(ProviderError):
    """The service answered with data that does not follow its documented format."""


class SSEDecodeError(ResponseFormatError):
    """The bytes are not a valid ``text/event-stream``."""


_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "context window",
    "prompt is too long",
    "maximum context",
    "too many tokens",
    "exceed context limit",  # Anthropic: "input length and `max_tokens` exceed context limit"
)
_RETRYABLE_TYPES = frozenset(
    {
        "overloaded_error",
        "rate_limit_error",
        "api_error",
        "rate_limit_exceeded",
        "provider_overloaded",
        "provider_unavailable",
        "server_error",
        "server",
        "timeout",
    }
)


#: Secrets shorter than this are never searched for: so short a string cannot be
#: told from ordinary text ("x" would turn "exceeded" into "e***ceeded"), and no
#: real service issues keys that short.
MIN_REDACTED_LENGTH = 8


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret of at least :data:`MIN_REDACTED_LENGTH` characters
    replaced by ``***``."""
    for secret in secrets:
        if len(secret) >= MIN_REDACTED_LENGTH and secret in text:
            text = text.replace(secret, "***")
    return text


def status_of_code(code: int | str | None) -> int | None:
    """The HTTP status an error ``code`` names (``500`` or ``"500"``), or None."""
    if isinstance(code, str) and code.strip().isdigit() and code.strip().isascii():
        code = int(code.strip())
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        return code
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    import time  # noqa: PLC0415 - only for the rare HTTP-date form

    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _error_fields(body: Any) -> tuple[str | None, str | None, int | str | None, str | None]:
    """(message, type, code, request_id) from any of the JSON error shapes we know."""
    if not isinstance(body, Mapping):
        return None, None, None, None
    request_id = body.get("request_id")
    error = body.get("error")
    if isinstance(error, str):
        return error, None, None, request_id if isinstance(request_id, str) else None
    if not isinstance(error, Mapping):
        message = body.get("message")
        return (message if isinstance(message, str) else None), None, None, None
    message = error.get("message")
    error_type = error.get("type")
    code = error.get("code")
    metadata = error.get("metadata")
    if isinstance(metadata, Mapping):
        if isinstance(metadata.get("error_type"), str):
            error_type = metadata["error_type"]
        raw = metadata.get("raw")
        if isinstance(raw, str) and raw and isinstance(message, str):
            # OpenRouter wraps upstream errors as "Provider returned error": keep the real text.
            message = f"{message}: {raw[:1000]}"
    if isinstance(error.get("error_type"), str):
        error_type = error["error_type"]
    return (
        message if isinstance(message, str) else None,
        error_type if isinstance(error_type, str) else None,
        code if isinstance(code, int | str) and not isinstance(code, bool) else None,
        request_id if isinstance(request_id, str) else None,
    )


def _is_context_length(message: str, error_type: str | None, code: int | str | None) -> bool:
    if error_type == "context_length_exceeded" or code == "context_length_exceeded":
        return True
    lowered = message.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


def error_from_response(
    status: int,
    body: bytes,
    *,
    provider: str,
    request_id: str | None,
    retry_after: float | None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """The typed error for an HTTP error response ``status`` with ``body``."""
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):  # nesting too deep for Python's parser
        parsed = None
    message, error_type, code, body_request_id = _error_fields(parsed)
    if message is None:
        snippet = body[:500].decode("utf-8", "replace").strip()
        message = snippet or "no error message"
    message = redact(f"{provider}: HTTP {status}: {message}", tuple(secrets))
    request_id = request_id or body_request_id
    kwargs: dict[str, Any] = {"status": status, "request_id": request_id}
    cls: type[ProviderError]
    if status == 401:
        cls = AuthenticationError
    elif status == 402:
        cls = InsufficientCreditsError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 429:
        cls = RateLimitError
        kwargs.update(retryable=True, retry_after=retry_after)
    elif status in (503, 529):
        cls = OverloadedError
        kwargs.update(retryable=True, retry_after=retry_after)
    elif status >= 500 or status == 408:
        cls = ServerError
        kwargs.update(retryable=True, retry_after=retry_after)
    elif _is_context_length(message, error_type, code):
        cls = ContextLengthExceededError
    else:
        cls = BadRequestError
    return cls(message, **kwargs)


def midstream_error(
    error: Any, *, provider: str, request_id: str | None, secrets: Iterable[str] = ()
) -> MidStreamError:
    """A :class:`MidStreamError` from an in-stream error object (OpenRouter or Anthropic)."""
    message, error_type, code, _ = _error_fields({"error": error})
    text = redact(f"{provider}: error in stream: {message or 'no message'}", tuple(secrets))
    status = status_of_code(code)  # LiteLLM's proxy sends codes as strings: "500"
    retryable = (error_type in _RETRYABLE_TYPES) or status in (408, 429, 500, 502, 503, 504, 529)
    return MidStreamError(
        text,
        code=code,
        error_type=error_type,
        status=status,
        request_id=request_id,
        retryable=retryable,
    )
