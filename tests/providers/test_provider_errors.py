"""HTTP and mid-stream errors, retries, Retry-After, and the API key never leaking."""

from __future__ import annotations

import contextlib
import json
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from provider_helpers import CONTEXT, FIXTURES, SECRET, fixture_bytes, make_provider
from structlog.testing import capture_logs

from agentkit._errors import ProviderError
from agentkit.providers._anthropic import AnthropicProvider
from agentkit.providers._base import ModelOptions
from agentkit.providers._errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    InsufficientCreditsError,
    MidStreamError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderConnectionError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    parse_retry_after,
)
from agentkit.providers._http import RetryPolicy
from agentkit.providers._openrouter import OpenRouterProvider

NO_WAIT = RetryPolicy(max_retries=2, base_delay=0.0)
KINDS = ["openrouter", "anthropic", "openai_compatible"]


def assert_no_secret(error: BaseException, logs: list[MutableMapping[str, Any]]) -> None:
    texts = [str(error), repr(error), str(error.args)]
    cause = error.__cause__
    while cause is not None:
        texts += [str(cause), repr(cause)]
        cause = cause.__cause__
    texts += [repr(log) for log in logs]
    for text in texts:
        assert SECRET not in text


def answering(
    *responses: tuple[int, bytes, dict[str, str]],
) -> tuple[httpx.MockTransport, list[int]]:
    """A transport giving ``responses`` in turn (the last one repeats); counts calls."""
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        status, body, headers = responses[min(len(calls), len(responses)) - 1]
        return httpx.Response(status, content=body, headers=headers)

    return httpx.MockTransport(handler), calls


async def fail_with(
    kind: str, transport: httpx.AsyncBaseTransport, retry: RetryPolicy = NO_WAIT
) -> tuple[ProviderError, list[MutableMapping[str, Any]]]:
    with capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport) as client:
            provider = make_provider(kind, client, retry=retry)
            with pytest.raises(ProviderError) as info:
                await provider.stream(CONTEXT, ModelOptions("m")).result()
    return info.value, logs


def openrouter_body(code: int, message: str, **metadata: Any) -> bytes:
    error: dict[str, Any] = {"code": code, "message": message}
    if metadata:
        error["metadata"] = metadata
    return json.dumps({"error": error}).encode()


@pytest.mark.anyio
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, OverloadedError),
        (529, OverloadedError),
    ],
)
async def test_http_status_maps_to_a_typed_error(
    kind: str, status: int, error_class: type[ProviderError]
) -> None:
    body = openrouter_body(status, f"nope {SECRET}")
    transport, calls = answering((status, body, {"x-request-id": "req_1", "request-id": "req_1"}))
    with anyio.fail_after(10):
        error, logs = await fail_with(kind, transport)
    assert type(error) is error_class
    assert error.status == status
    assert error.request_id == "req_1"
    assert "nope ***" in error.message
    retried = status in (429, 500, 502, 503, 529)
    assert len(calls) == (3 if retried else 1)
    assert error.retryable is retried
    assert_no_secret(error, logs)
    if retried:
        retries = [log for log in logs if log["event"] == "provider.retry"]
        assert [log["attempt"] for log in retries] == [1, 2]
        assert all(log["status"] == status for log in retries)


@pytest.mark.anyio
async def test_anthropic_400_keeps_the_service_message_and_request_id() -> None:
    body = (FIXTURES / "anthropic_messages_400_tool_result_ordering.json").read_bytes()
    transport, _ = answering((400, body, {}))
    with anyio.fail_after(10):
        error, _ = await fail_with("anthropic", transport)
    assert type(error) is BadRequestError
    assert "`tool_use` ids were found without `tool_result` blocks" in error.message
    assert error.request_id == "req_011Cak2XdJgnzxKCY2BC2Beh"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": "prompt is too long: 210000 tokens > 200000 maximum",
            },
        },
        {
            "error": {
                "code": 400,
                "message": "too long",
                "metadata": {"error_type": "context_length_exceeded"},
            }
        },
        {
            "error": {
                "message": "This model's maximum context length is 8192 tokens",
                "code": "context_length_exceeded",
            }
        },
    ],
)
async def test_context_length_exceeded(body: dict[str, Any]) -> None:
    transport, _ = answering((400, json.dumps(body).encode(), {}))
    with anyio.fail_after(10):
        error, _ = await fail_with("openrouter", transport)
    assert isinstance(error, ContextLengthExceededError)
    assert isinstance(error, BadRequestError)


@pytest.mark.anyio
async def test_openrouter_upstream_error_keeps_the_raw_message() -> None:
    body = openrouter_body(
        429, "Provider returned error", raw="Anthropic: slow down", provider_name="Anthropic"
    )
    transport, _ = answering((429, body, {"retry-after": "0"}))
    with anyio.fail_after(10):
        error, _ = await fail_with("openrouter", transport)
    assert isinstance(error, RateLimitError)
    assert "Provider returned error: Anthropic: slow down" in error.message
    assert error.retry_after == 0.0


@pytest.mark.anyio
async def test_retry_then_success_and_retry_after_is_honoured() -> None:
    ok = fixture_bytes("openrouter_gpt4omini_azure_text.sse")
    transport, calls = answering(
        (503, b"", {"retry-after": "0.05"}),
        (429, b"", {"retry-after": "0"}),
        (200, ok, {"content-type": "text/event-stream"}),
    )
    with anyio.fail_after(10), capture_logs() as logs:
        async with httpx.AsyncClient(transport=transport) as client:
            provider = make_provider("openrouter", client, retry=RetryPolicy(base_delay=5.0))
            started = anyio.current_time()
            message = await provider.stream(CONTEXT, ModelOptions("m")).result()
            elapsed = anyio.current_time() - started
    assert message.text == "Hello!"
    assert len(calls) == 3
    assert 0.05 <= elapsed < 2.0  # Retry-After, not the 5 s base delay
    assert [log["delay"] for log in logs if log["event"] == "provider.retry"] == [0.05, 0.0]


@pytest.mark.anyio
async def test_max_retry_delay_caps_retry_after() -> None:
    transport, calls = answering((429, b"", {"retry-after": "3600"}))
    policy = RetryPolicy(max_retries=1, max_retry_delay=0.01)
    with anyio.fail_after(10):
        error, logs = await fail_with("anthropic", transport, policy)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 3600.0
    assert len(calls) == 2
    assert [log["delay"] for log in logs if log["event"] == "provider.retry"] == [0.01]


@pytest.mark.anyio
async def test_connection_errors_are_retried_then_typed() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError(f"refused while sending key {SECRET}", request=request)

    with anyio.fail_after(10):
        error, logs = await fail_with("openrouter", httpx.MockTransport(handler))
    assert isinstance(error, ProviderConnectionError)
    assert len(calls) == 3
    assert error.status is None
    assert "***" in error.message
    # The httpx error stays reachable as the cause, with its own text, for debugging.
    assert isinstance(error.__cause__, httpx.ConnectError)
    texts = [str(error), repr(error)] + [repr(log) for log in logs]
    assert all(SECRET not in text for text in texts)


@pytest.mark.anyio
async def test_no_retry_once_streaming_began() -> None:
    calls: list[int] = []

    async def body() -> Any:
        yield b'data: {"id":"gen-1","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":  # not the generation lookup that follows the failure
            calls.append(1)
        return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})

    events: list[Any] = []
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            provider = make_provider("openrouter", client, retry=NO_WAIT)
            stream = provider.stream(CONTEXT, ModelOptions("m"))
            with pytest.raises(ProviderConnectionError, match="while streaming"):
                async for event in stream:
                    events.append(event)
    assert len(calls) == 1
    assert [type(e).__name__ for e in events] == ["StreamStart", "TextDelta"]


@pytest.mark.anyio
async def test_missing_key_is_an_authentication_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    for provider in (OpenRouterProvider(), AnthropicProvider()):
        with anyio.fail_after(10), pytest.raises(AuthenticationError, match="no API key"):
            await provider.stream(CONTEXT, ModelOptions("m")).result()


def test_keys_come_from_the_environment_and_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    for provider in (OpenRouterProvider(), AnthropicProvider()):
        assert provider._api_key.reveal() == SECRET
        assert SECRET not in repr(provider)
        assert SECRET not in str(vars(provider).get("_extra_headers"))
        assert "api_key=<set>" in repr(provider)


MIDSTREAM = [
    ("openrouter", "openrouter_docs_example_midstream_error_typed.sse",
     429, 429, "rate_limit_exceeded", True),
    ("openrouter", "openrouter_docs_example_midstream_error_streaming_page.sse",
     "server_error", None, None, False),
    ("anthropic", "anthropic_docs_example_midstream_overloaded_error.sse",
     None, None, "overloaded_error", True),
]  # fmt: skip


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "name", "code", "status", "error_type", "retryable"), MIDSTREAM)
async def test_midstream_errors(
    kind: str, name: str, code: Any, status: Any, error_type: Any, retryable: bool
) -> None:
    transport, _ = answering((200, fixture_bytes(name), {"content-type": "text/event-stream"}))
    with anyio.fail_after(10):
        error, logs = await fail_with(kind, transport)
    assert isinstance(error, MidStreamError)
    assert (error.code, error.status, error.error_type, error.retryable) == (
        code, status, error_type, retryable,
    )  # fmt: skip
    assert_no_secret(error, logs)


@pytest.mark.anyio
async def test_anthropic_skin_error_event_type() -> None:
    data = (FIXTURES / "openrouter_docs_example_messages_skin_midstream_error.json").read_text()
    stream = f"event: error\ndata: {json.dumps(json.loads(data))}\n\n".encode()
    transport, _ = answering((200, stream, {"content-type": "text/event-stream"}))
    with anyio.fail_after(10):
        error, _ = await fail_with("anthropic", transport)
    assert isinstance(error, MidStreamError)
    assert error.error_type == "provider_overloaded"
    assert error.retryable


@pytest.mark.anyio
async def test_finish_reason_error_without_error_object() -> None:
    stream = (
        b'data: {"id":"gen-1","choices":[{"index":0,"delta":{"content":"x"},'
        b'"finish_reason":null}]}\n\n'
        b'data: {"id":"gen-1","choices":[{"index":0,"delta":{},"finish_reason":"error",'
        b'"native_finish_reason":"MALFORMED_FUNCTION_CALL"}]}\n\ndata: [DONE]\n\n'
    )
    transport, _ = answering((200, stream, {"content-type": "text/event-stream"}))
    with anyio.fail_after(10):
        error, _ = await fail_with("openrouter", transport)
    assert isinstance(error, MidStreamError)
    assert "MALFORMED_FUNCTION_CALL" in error.message
    assert error.request_id == "gen-1"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "stream", "error_class", "match"),
    [
        ("openrouter", b"data: {not json\n\n", ResponseFormatError, "not JSON"),
        ("openrouter", b"data: [1, 2]\n\n", ResponseFormatError, "not an object"),
        ("openrouter", b": only comments\n\n", ResponseFormatError, "without any chunk"),
        ("openrouter", b'data: {"id":"g","choices":[{"index":0,"delta":{"content":"x"}}]}\n\n',
         ProviderConnectionError, "before the answer was complete"),
        ("anthropic", b"event: ping\ndata: {}\n\n", ProviderConnectionError, "before message_stop"),
        ("anthropic",
         b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text"}}\n\n',
         ResponseFormatError, "before message_start"),
        ("anthropic", b"data: \xff\n\n", ResponseFormatError, "UTF-8"),
    ],
)  # fmt: skip
async def test_malformed_streams(
    kind: str, stream: bytes, error_class: type[ProviderError], match: str
) -> None:
    transport, _ = answering((200, stream, {"content-type": "text/event-stream"}))
    with anyio.fail_after(10):
        error, _ = await fail_with(kind, transport)
    assert isinstance(error, error_class)
    assert match in error.message


NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("nan", None),
        ("", None),
        (None, None),
        ("soon", None),
        (
            format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=30), usegmt=True),
            30.0,
        ),
        (
            format_datetime(datetime.fromtimestamp(NOW, UTC) - timedelta(seconds=30), usegmt=True),
            0.0,
        ),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_policy_delays() -> None:
    policy = RetryPolicy(base_delay=1.0, max_retry_delay=3.0)
    for attempt, (low, high) in enumerate([(0.5, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 3.0)]):
        delay = policy.delay(attempt, None)
        assert low <= delay <= high
    assert policy.delay(0, 10.0) == 3.0
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = st.sampled_from(
    ["type", "index", "delta", "content", "tool_calls", "choices", "usage", "message",
     "content_block", "text", "id", "function", "arguments", "error", "finish_reason"]
)  # fmt: skip
SHAPED = st.recursive(
    JSON,
    lambda inner: st.dictionaries(KEYS, inner, max_size=4) | st.lists(inner, max_size=2),
    max_leaves=12,
)
ANTHROPIC_TYPES = st.sampled_from(
    ["message_start", "content_block_start", "content_block_delta", "content_block_stop",
     "message_delta", "message_stop", "ping", "error"]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(SHAPED, min_size=1, max_size=4),
    types=st.lists(ANTHROPIC_TYPES, min_size=4, max_size=4),
    kind=st.sampled_from(["openrouter", "anthropic"]),
)
def test_any_json_shape_gives_a_result_or_a_typed_error(
    chunks: list[Any], types: list[str], kind: str
) -> None:
    parts = []
    for chunk, kind_name in zip(chunks, types, strict=False):
        typed = (
            {**chunk, "type": kind_name}
            if kind == "anthropic" and isinstance(chunk, dict)
            else chunk
        )
        parts.append(b"data: " + json.dumps(typed).encode() + b"\n\n")

    async def go() -> None:
        with anyio.fail_after(10):
            transport, _ = answering((200, b"".join(parts), {"content-type": "text/event-stream"}))
            async with httpx.AsyncClient(transport=transport) as client:
                provider = make_provider(kind, client, retry=NO_WAIT)
                with contextlib.suppress(ProviderError):  # typed errors are fine, others are not
                    await provider.stream(CONTEXT, ModelOptions("m")).result()

    anyio.run(go)
