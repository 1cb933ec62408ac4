"""Issue 12, provider half: each finding of the hostile-input review, as a test.

Real sockets on loopback only (the emulator, or the tiny loopback server),
both backends, a deadline on every test.
"""

from __future__ import annotations

import io
import json
import math
import tracemalloc
import zlib
from typing import Any

import anyio
import httpx
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from loopback_server import serve
from rich.console import Console
from rich.traceback import Traceback

from agentkit import Agent, ProviderError, StreamStalledError
from agentkit._messages import Context, StopReason, Usage, UserMessage
from agentkit.providers import (
    AnthropicProvider,
    ModelOptions,
    OpenAICompatibleProvider,
    OpenRouterProvider,
    RedirectError,
    ResponseFormatError,
    Timeouts,
)
from agentkit.providers._base import AssistantMessageBuilder
from agentkit.providers._errors import MIN_REDACTED_LENGTH, midstream_error, redact
from agentkit.providers._secret import Secret
from agentkit.providers._usage import MAX_PLAUSIBLE_COST, openai_usage, reported_cost
from agentkit.testing import CountingTransport
from agentkit.testing.emulator import (
    DropFault,
    Emulator,
    KeepAliveFault,
    StallFault,
    StatusFault,
    StreamErrorFault,
)

pytestmark = pytest.mark.anyio

SENTINEL = "sk-HARDENING-SENTINEL-5a4b3c2d1e0f9988"
APIS = ("anthropic", "openrouter")
MODELS = {"anthropic": "claude-haiku-4-5", "openrouter": "anthropic/claude-haiku-4.5"}
CONTEXT = Context(system="Be brief.", messages=(UserMessage("Hello"),))


def provider_for(api: str, base: str, client: httpx.AsyncClient, **kwargs: Any) -> Any:
    from agentkit.providers import RetryPolicy

    kwargs.setdefault("retry", RetryPolicy(max_retries=0))
    if api == "anthropic":
        return AnthropicProvider(api_key=SENTINEL, base_url=base, client=client, **kwargs)
    return OpenRouterProvider(api_key=SENTINEL, base_url=base, client=client, **kwargs)


def emulator_base(emu: Emulator, api: str) -> str:
    return emu.anthropic_base_url if api == "anthropic" else emu.openrouter_base_url


@pytest.fixture(scope="module")
def emulator() -> Any:
    with Emulator() as emu:
        yield emu


async def failure(provider: Any) -> ProviderError:
    model = MODELS["anthropic" if isinstance(provider, AnthropicProvider) else "openrouter"]
    with pytest.raises(ProviderError) as info:
        await provider.stream(CONTEXT, ModelOptions(model)).result()
    return info.value


def rich_traceback(error: BaseException) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(
        Traceback.from_exception(type(error), error, error.__traceback__, show_locals=True)
    )
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "locals" in out or "│" in out  # the renderer really ran, with its frames
    return str(out)


def structlog_json(error: BaseException) -> str:
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.dict_tracebacks,  # show_locals is on by default
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    try:
        raise error
    except ProviderError:
        structlog.get_logger("app").exception("provider failed")
    text = out.getvalue()
    assert '"locals"' in text  # locals were rendered
    return text


FAULTS: dict[str, Any] = {
    "status_401": StatusFault(401, message="invalid x-api-key"),
    "status_500": StatusFault(500),
    "stream_error": StreamErrorFault(after=3),
    "drop": DropFault(after_bytes=200),
    "stall": StallFault(seconds=30, after=3),
    "keepalive": KeepAliveFault(after=2, interval=0.02),
    "refused": None,
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("path", sorted(FAULTS))
async def test_no_traceback_renderer_with_locals_shows_the_key(
    api: str, path: str, emulator: Emulator
) -> None:
    emulator.reset()
    fault = FAULTS[path]
    if fault is not None:
        emulator.inject(fault, times=1, api=api)  # type: ignore[arg-type]
    base = "http://127.0.0.1:9" if path == "refused" else emulator_base(emulator, api)
    with anyio.fail_after(10):
        async with httpx.AsyncClient() as client:
            provider = provider_for(api, base, client, timeouts=Timeouts(idle=0.3))
            error = await failure(provider)
    for text in (rich_traceback(error), structlog_json(error)):
        assert SENTINEL not in text
    # A transport failure keeps its cause (type and message), without third-party frames.
    if path in ("refused", "drop"):
        assert error.__cause__ is not None
        assert error.__cause__.__traceback__ is None


def echo_transport(where: str) -> httpx.MockTransport:
    """A service that echoes the key it got into one field of its answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        key = request.headers.get("x-api-key") or request.headers["authorization"][7:]
        assert key == SENTINEL
        sse = {"content-type": "text/event-stream"}
        if where == "request_id_header":
            return httpx.Response(500, headers={"request-id": f"req-{key}"}, content=b"{}")
        if where == "midstream_code":
            frame = {"error": {"message": "m", "code": f"c-{key}", "type": f"t-{key}"}}
            return httpx.Response(
                200, headers=sse, content=f"data: {json.dumps(frame)}\n\n".encode()
            )
        if where == "native_finish":
            chunk = {"id": "g", "choices": [{"delta": {"content": "x"}, "finish_reason": "error",
                                             "native_finish_reason": f"n-{key}"}]}  # fmt: skip
            return httpx.Response(
                200, headers=sse, content=f"data: {json.dumps(chunk)}\n\n".encode()
            )
        if where == "location":
            return httpx.Response(307, headers={"location": f"https://evil.example/{key}"})
        raise AssertionError(where)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    "where", ["request_id_header", "midstream_code", "native_finish", "location"]
)
async def test_a_key_echoed_in_any_field_is_redacted(api: str, where: str) -> None:
    if where == "native_finish" and api == "anthropic":
        pytest.skip("an OpenAI-format field")
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=echo_transport(where)) as client:
            base = "https://svc.example" + ("/api/v1" if api == "openrouter" else "")
            error = await failure(provider_for(api, base, client))
    fields = [str(error), repr(error), repr(vars(error)), rich_traceback(error)]
    assert all(SENTINEL not in text for text in fields)
    assert "***" in repr(vars(error))  # the echo was there, and was redacted


async def test_a_key_echoed_in_ids_models_and_upstream_stays_out_of_the_saved_session() -> None:
    body = (
        f'data: {{"id":"gen-{SENTINEL}","model":"m-{SENTINEL}","provider":"p-{SENTINEL}",'
        '"choices":[{"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n'
        f'data: {{"choices":[],"usage":{{"prompt_tokens":1,"completion_tokens":1}}}}\n\n'
        "data: [DONE]\n\n"
    ).encode()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=body
        )
    )
    log = io.StringIO()
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=log),
        cache_logger_on_first_use=False,
    )
    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=transport) as client:
            agent = Agent(
                provider_for("openrouter", "https://svc.example/api/v1", client), model="m"
            )
            result = await agent.run("Hello")
    saved = json.dumps([m.to_dict() for m in agent.messages])
    assert result.text == "hi"
    assert SENTINEL not in saved and SENTINEL not in log.getvalue()
    assert "gen-***" in saved and "m-***" in saved and "p-***" in saved


async def test_a_key_echoed_in_anthropic_fields_stays_out_of_logs_and_the_session() -> None:
    start = {"id": f"msg-{SENTINEL}", "model": f"m-{SENTINEL}", "usage": {"input_tokens": 1}}
    text = {"type": "text", "text": "hi"}
    frames = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": f"b-{SENTINEL}"}},
        {"type": "content_block_start", "index": 1, "content_block": text},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": f"s-{SENTINEL}"}, "usage": {}},
        {"type": "message_stop"},
    ]
    body = "".join(f"event: {f['type']}\ndata: {json.dumps(f)}\n\n" for f in frames).encode()
    sse = {"content-type": "text/event-stream", "request-id": f"req-{SENTINEL}"}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, headers=sse, content=body))
    with structlog.testing.capture_logs() as logs, anyio.fail_after(10):
        async with httpx.AsyncClient(transport=transport) as client:
            agent = Agent(provider_for("anthropic", "https://svc.example", client), model="m")
            result = await agent.run("Hello")
    saved = json.dumps([m.to_dict() for m in agent.messages])
    assert result.text == "hi"
    events = {e["event"] for e in logs}
    assert {"anthropic.block_skipped", "anthropic.unknown_stop_reason"} <= events
    assert SENTINEL not in saved and SENTINEL not in repr(logs)
    assert "msg-***" in saved and "b-***" in repr(logs) and "s-***" in repr(logs)


@given(st.text(), st.text(min_size=MIN_REDACTED_LENGTH))
def test_redaction_removes_every_long_enough_secret(text: str, secret: str) -> None:
    out = redact(text + secret + text, [secret])
    assert secret not in out.replace("***", "\0")  # no occurrence is left


@given(st.text(), st.text(min_size=1, max_size=MIN_REDACTED_LENGTH - 1))
def test_redaction_never_garbles_text_with_a_too_short_secret(text: str, secret: str) -> None:
    assert redact(text, [secret]) == text


def test_a_short_key_does_not_garble_messages() -> None:
    assert redact("Rate limit exceeded", ["x"]) == "Rate limit exceeded"
    secret = Secret(SENTINEL)
    assert SENTINEL not in repr(secret) + str(secret) + f"{secret}"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)


# ---------------------------------------------------------------- redirects and plain http


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_a_typed_error_and_the_key_never_leaves_the_origin(
    api: str, status: int
) -> None:
    with anyio.fail_after(10):
        async with serve([b"{}"]) as elsewhere:
            location = f"{elsewhere.url}/v1/messages"
            # A client that follows redirects, as many applications configure theirs.
            async with (
                serve([], status=status, headers={"location": location}) as origin,
                httpx.AsyncClient(follow_redirects=True) as client,
            ):
                provider = provider_for(api, origin.url, client, retry=None)
                error = await failure(provider)
    assert type(error) is RedirectError
    assert error.status == status
    assert error.location == location
    assert location in error.message
    assert not error.retryable
    assert len(origin.requests) == 1  # not retried
    assert elsewhere.requests == []  # never followed: nothing, key or not, went elsewhere


def test_plain_http_is_refused_for_remote_hosts_unless_asked_for() -> None:
    for cls in (AnthropicProvider, OpenRouterProvider):
        with pytest.raises(ValueError, match="allow_insecure_http"):
            cls(api_key=SENTINEL, base_url="http://gpu-box.lan:8000")
        assert cls(api_key=SENTINEL, base_url="http://gpu-box.lan", allow_insecure_http=True)
    with pytest.raises(ValueError, match="allow_insecure_http"):
        OpenAICompatibleProvider("http://10.0.0.7:8000/v1")
    for url in ("http://127.0.0.1:8000/v1", "http://localhost:11434/v1", "http://[::1]:8000"):
        assert OpenAICompatibleProvider(url).base_url == url.rstrip("/")
    assert OpenAICompatibleProvider("https://10.0.0.7/v1")


# ---------------------------------------------------------------- stalls


@pytest.mark.parametrize("api", APIS)
async def test_keep_alives_cannot_keep_a_dead_stream_alive(api: str, emulator: Emulator) -> None:
    emulator.reset()
    emulator.inject(KeepAliveFault(after=2, interval=0.02), times=1, api=api)
    with anyio.fail_after(10):
        async with httpx.AsyncClient() as client:
            provider = provider_for(
                api, emulator_base(emulator, api), client, timeouts=Timeouts(idle=0.5)
            )
            error = await failure(provider)
    assert type(error) is StreamStalledError
    assert error.message == f"{provider.name}: no progress for 0.5 s; the stream stalled"


@pytest.mark.parametrize("api", APIS)
async def test_the_overall_deadline_ends_a_request_that_keeps_making_no_end(
    api: str, emulator: Emulator
) -> None:
    emulator.reset()
    emulator.inject(KeepAliveFault(after=2, interval=0.02), times=1, api=api)
    with anyio.fail_after(10):
        async with httpx.AsyncClient() as client:
            timeouts = Timeouts(idle=30, total=0.5)
            provider = provider_for(api, emulator_base(emulator, api), client, timeouts=timeouts)
            error = await failure(provider)
    assert type(error) is StreamStalledError
    assert "deadline of 0.5 s" in error.message
    assert not error.retryable


def test_httpx_read_timeout_is_only_a_backstop() -> None:
    for idle in (0.25, 5.0, 120.0):
        timeouts = Timeouts(idle=idle)
        assert timeouts.to_httpx().read is not None
        assert timeouts.to_httpx().read >= idle * 2


ANSWER = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"x",'
    b'"usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":"Hi"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    b'"usage":{"output_tokens":1}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


async def test_the_answer_is_handed_on_before_the_rest_of_the_body_is_drained() -> None:
    held = anyio.Event()  # the server keeps the body open until the test lets it go
    counter = CountingTransport()
    with anyio.fail_after(10):
        async with serve([ANSWER, held]) as server, httpx.AsyncClient(transport=counter) as client:
            provider = provider_for("anthropic", server.url, client)
            stream = provider.stream(CONTEXT, ModelOptions("x"))
            async with stream:
                async for _ in stream:
                    pass
                message = await stream.result()
                # The answer came while the response was still open (being drained).
                assert counter.open == 1
            held.set()
    assert message.text == "Hi"
    assert counter.open == 0


# ---------------------------------------------------------------- bytes that crash or brick


def _bomb(size: int, *, fill: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = fill * ((1 << 20) // len(fill))
    return b"".join(z.compress(block) for _ in range(size >> 20)) + z.flush()


async def _peak_while(coro: Any) -> tuple[int, Any]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        outcome = await coro
        return tracemalloc.get_traced_memory()[1], outcome
    finally:
        tracemalloc.stop()


async def test_a_gzip_bomb_error_body_does_not_lift_peak_memory() -> None:
    bomb = _bomb(256 << 20, fill=b" ")  # 256 MiB of spaces in ~256 KiB
    steps = [bomb[i : i + 65536] for i in range(0, len(bomb), 65536)]
    with anyio.fail_after(20):
        async with (
            serve(steps, status=500, headers={"content-encoding": "gzip"}) as server,
            httpx.AsyncClient() as client,
        ):
            provider = provider_for("anthropic", server.url, client)
            peak, error = await _peak_while(failure(provider))
    assert error.status == 500
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB"


async def test_a_gzip_stream_of_newlines_is_bounded_and_stalls_on_no_progress() -> None:
    bomb = _bomb(16 << 20, fill=b"\n")  # 16 MiB of blank lines: no event, no progress
    steps: list[Any] = [bomb[i : i + 65536] for i in range(0, len(bomb), 65536)]
    steps.append(anyio.Event())  # then hold the body open
    with anyio.fail_after(30):
        async with (
            serve(steps, headers={"content-encoding": "gzip"}) as server,
            httpx.AsyncClient() as client,
        ):
            timeouts = Timeouts(idle=1.0)
            provider = provider_for("anthropic", server.url, client, timeouts=timeouts)
            peak, error = await _peak_while(failure(provider))
    assert type(error) is StreamStalledError  # newlines are no progress
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


async def test_an_unsupported_content_encoding_is_a_typed_error() -> None:
    with anyio.fail_after(10):
        async with (
            serve([b"xx"], headers={"content-encoding": "br"}) as server,
            httpx.AsyncClient() as client,
        ):
            error = await failure(provider_for("anthropic", server.url, client))
    assert type(error) is ResponseFormatError
    assert "'br'" in error.message


async def test_requests_ask_only_for_encodings_decompressed_in_bounded_steps() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(401, content=b"{}")

    with anyio.fail_after(10):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            await failure(provider_for("anthropic", "https://svc.example", client))
    assert seen[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 1e308, -0.5, 10**400, "0.1", True, MAX_PLAUSIBLE_COST * 2],
)
def test_an_implausible_cost_is_dropped_and_usage_stays_finite(value: Any) -> None:
    with structlog.testing.capture_logs() as logs:
        usage = openai_usage(
            {"prompt_tokens": 10, "completion_tokens": 5, "cost": value},
            model="unknown-model",
            derive_cache_writes=True,
        )
    assert usage.cost is None  # unknown model: no registry price either, so unknown
    assert (usage + usage).cost is None
    assert [e["event"] for e in logs] == ["provider.cost_dropped"]


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers())
def test_a_reported_cost_is_none_or_finite_and_plausible(value: float) -> None:
    cost = reported_cost(value)
    assert cost is None or (math.isfinite(cost) and 0 <= cost <= MAX_PLAUSIBLE_COST)
    if isinstance(value, float) and math.isfinite(value) and 0 <= value <= MAX_PLAUSIBLE_COST:
        assert cost == value  # a plausible cost is kept as sent


def test_a_plausible_cost_is_kept() -> None:
    usage = openai_usage(
        {"prompt_tokens": 10, "cost": 0.0123}, model="m", derive_cache_writes=False
    )
    assert usage.cost == 0.0123


def _message_with_calls(*ids: str) -> list[str]:
    builder = AssistantMessageBuilder(model="m", provider="p")
    builder.start()
    for n, call_id in enumerate(ids):
        builder.tool_call_start(n, call_id, f"tool{n}")
        builder.tool_call_arguments(n, "{}")
    builder.close_blocks()
    message = builder.build(StopReason.TOOL_USE, Usage())
    assert [c.name for c in message.tool_calls] == [f"tool{n}" for n in range(len(ids))]
    return [c.id for c in message.tool_calls]


def test_empty_and_duplicate_tool_call_ids_are_repaired_deterministically() -> None:
    with structlog.testing.capture_logs() as logs:
        repaired = _message_with_calls("a", "", "a", "call_2", "")
    assert repaired == ["a", "call_2_2", "a_3", "call_2", "call_5"]
    assert repaired == _message_with_calls("a", "", "a", "call_2", "")  # deterministic
    reasons = [e["reason"] for e in logs if e["event"] == "provider.tool_call_id_repaired"]
    assert reasons == ["empty", "duplicate", "empty"]
    assert _message_with_calls("x", "y") == ["x", "y"]  # unique ids are left alone


@given(st.lists(st.sampled_from(["", "a", "b", "call_1", "a_2"]), max_size=8))
def test_repaired_ids_are_unique_and_non_empty(ids: list[str]) -> None:
    repaired = _message_with_calls(*ids)
    assert len(repaired) == len(ids)
    assert all(repaired) and len(set(repaired)) == len(repaired)
    for before, after in zip(ids, repaired, strict=True):
        if before and ids.count(before) == 1:
            assert after == before


def test_string_error_codes_map_like_integer_ones() -> None:
    for code in (500, "500", " 502 ", "529", 429, "429"):
        error = midstream_error({"message": "m", "code": code}, provider="p", request_id=None)
        assert error.status == int(str(code).strip())
        assert error.retryable
    for code in ("server_error_x", "5000", "", None, True):
        error = midstream_error({"message": "m", "code": code}, provider="p", request_id=None)
        assert error.status is None


@pytest.mark.parametrize("api", APIS)
async def test_a_whole_json_answer_to_a_streaming_request_is_the_same_answer(
    api: str, emulator: Emulator
) -> None:
    from agentkit.testing.emulator import NotStreamFault

    answers = []
    for fault in (None, NotStreamFault()):
        emulator.reset()
        if fault is not None:
            emulator.inject(fault, times=1, api=api)
        with anyio.fail_after(10):
            async with httpx.AsyncClient() as client:
                provider = provider_for(api, emulator_base(emulator, api), client)
                message = await provider.stream(CONTEXT, ModelOptions(MODELS[api])).result()
        answers.append(message)
    streamed, whole = answers
    assert whole.text == streamed.text and whole.text
    assert whole.usage.input == streamed.usage.input
    assert whole.usage.output == streamed.usage.output
    assert whole.stop_reason is streamed.stop_reason
