"""Streaming for real, over loopback: deltas arrive as their bytes do; stopping closes."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from loopback_server import serve
from provider_helpers import CONTEXT, SECRET

from agentkit._events import TextDelta
from agentkit.providers._anthropic import AnthropicProvider
from agentkit.providers._base import ModelOptions
from agentkit.providers._errors import StreamStalledError
from agentkit.providers._http import Timeouts
from agentkit.providers._openrouter import OpenRouterProvider


def openrouter_chunk(text: str) -> bytes:
    chunk = {"id": "gen-1", "model": "m", "choices": [{"index": 0, "delta": {"content": text}}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


OPENROUTER_END = (
    b'data: {"id":"gen-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":3,"completion_tokens":2,"cost":0.001}}\n\ndata: [DONE]\n\n'
)


def anthropic_event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()


ANTHROPIC_START = anthropic_event(
    "message_start",
    message={"id": "msg_1", "model": "claude-haiku-4-5", "usage": {"input_tokens": 3}},
) + anthropic_event("content_block_start", index=0, content_block={"type": "text", "text": ""})


def anthropic_text(text: str) -> bytes:
    return anthropic_event(
        "content_block_delta", index=0, delta={"type": "text_delta", "text": text}
    )


ANTHROPIC_END = (
    anthropic_event("content_block_stop", index=0)
    + anthropic_event(
        "message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 2}
    )
    + anthropic_event("message_stop")
)


def provider_for(kind: str, url: str, client: httpx.AsyncClient, **kwargs: Any) -> Any:
    if kind == "openrouter":
        # The loopback server has no generation endpoint: no lookup after an early stop.
        kwargs.setdefault("generation_lookup_timeout", None)
        return OpenRouterProvider(api_key=SECRET, base_url=url, client=client, **kwargs)
    return AnthropicProvider(api_key=SECRET, base_url=url, client=client, **kwargs)


def scripts(kind: str, gate: anyio.Event) -> list[Any]:
    if kind == "openrouter":
        return [
            b": OPENROUTER PROCESSING\n\n",
            openrouter_chunk("Hel"),
            gate,
            openrouter_chunk("lo"),
            OPENROUTER_END,
        ]
    return [ANTHROPIC_START + anthropic_text("Hel"), gate, anthropic_text("lo"), ANTHROPIC_END]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["openrouter", "anthropic"])
async def test_each_delta_arrives_while_the_server_waits(kind: str) -> None:
    gate = anyio.Event()
    with anyio.fail_after(10):
        async with serve(scripts(kind, gate)) as server, httpx.AsyncClient() as client:
            provider = provider_for(kind, server.url, client)
            texts = []
            async for event in provider.stream(CONTEXT, ModelOptions("m")):
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                    if event.text == "Hel":
                        # The server is still holding the rest of the answer back.
                        assert not server.finished_script
                        gate.set()
            assert texts == ["Hel", "lo"]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["openrouter", "anthropic"])
@pytest.mark.parametrize("how", ["break", "async_with", "cancel", "aclose"])
async def test_stopping_early_closes_the_connection(kind: str, how: str) -> None:
    never = anyio.Event()
    with anyio.fail_after(10):
        async with serve(scripts(kind, never)) as server, httpx.AsyncClient() as client:
            provider = provider_for(kind, server.url, client)
            stream = provider.stream(CONTEXT, ModelOptions("m"))
            if how == "break":
                async for event in stream:
                    if isinstance(event, TextDelta):
                        break
            elif how == "async_with":
                async with stream:
                    async for event in stream:
                        if isinstance(event, TextDelta):
                            break
            elif how == "cancel":
                with anyio.CancelScope() as scope:
                    async for event in stream:
                        if isinstance(event, TextDelta):
                            scope.cancel()
                            await anyio.sleep(1)  # cancelled here
                assert scope.cancelled_caught
            else:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        await stream.aclose()
                        break
            await server.closed.wait()
            assert server.open_connections == 0
            assert not server.finished_script
            assert len(server.requests) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["openrouter", "anthropic"])
async def test_a_stalled_stream_raises_instead_of_hanging(kind: str) -> None:
    never = anyio.Event()
    with anyio.fail_after(10):
        async with serve(scripts(kind, never)) as server, httpx.AsyncClient() as client:
            provider = provider_for(kind, server.url, client, timeouts=Timeouts(idle=0.3))
            stream = provider.stream(CONTEXT, ModelOptions("m"))
            started = anyio.current_time()
            with pytest.raises(StreamStalledError, match="stalled"):
                await stream.result()
            assert 0.3 <= anyio.current_time() - started < 3
            await server.closed.wait()
            assert server.open_connections == 0


@pytest.mark.anyio
async def test_comments_do_not_count_as_activity() -> None:
    keepalive: list[Any] = [b": OPENROUTER PROCESSING\n\n", 0.1] * 15
    script = [openrouter_chunk("Hel"), *keepalive, OPENROUTER_END]
    with anyio.fail_after(10):
        async with serve(script) as server, httpx.AsyncClient() as client:
            provider = provider_for("openrouter", server.url, client, timeouts=Timeouts(idle=0.5))
            with pytest.raises(StreamStalledError):
                await provider.stream(CONTEXT, ModelOptions("m")).result()


@pytest.mark.anyio
async def test_a_slow_consumer_is_not_a_stall() -> None:
    script = [openrouter_chunk(str(i)) for i in range(5)] + [OPENROUTER_END]
    with anyio.fail_after(10):
        async with serve(script) as server, httpx.AsyncClient() as client:
            provider = provider_for("openrouter", server.url, client, timeouts=Timeouts(idle=0.5))
            texts = []
            async for event in provider.stream(CONTEXT, ModelOptions("m")):
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                    await anyio.sleep(0.15)  # 0.75 s in all: longer than the idle timeout
            assert texts == ["0", "1", "2", "3", "4"]


@pytest.mark.anyio
async def test_owned_client_is_closed_by_aclose() -> None:
    script = [openrouter_chunk("hi"), OPENROUTER_END]
    with anyio.fail_after(10):
        async with serve(script) as server:
            async with OpenRouterProvider(api_key=SECRET, base_url=server.url) as provider:
                message = await provider.stream(CONTEXT, ModelOptions("m")).result()
                assert message.text == "hi"
                assert message.usage.cost == 0.001
            await server.closed.wait()
            assert server.open_connections == 0
