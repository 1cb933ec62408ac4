"""Shared helpers for the provider tests: fixtures as bytes, mock transports, summaries."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from agentkit._events import AssistantEvent
from agentkit._messages import AssistantMessage, Context, UserMessage
from agentkit.providers._anthropic import AnthropicProvider
from agentkit.providers._base import ModelOptions
from agentkit.providers._openai_compat import OpenAICompatibleProvider
from agentkit.providers._openrouter import OpenRouterProvider

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
SECRET = "sk-SENTINEL-never-show-me-0123456789"


def fixture_bytes(name: str) -> bytes:
    """A fixture as the bytes a server would send; ``.jsonl`` files get their SSE framing back."""
    path = FIXTURES / name
    raw = path.read_bytes()
    if not name.endswith(".jsonl"):
        return raw
    out = []
    for line in raw.decode().splitlines():
        if not line.strip():
            continue
        if name.startswith("anthropic"):
            kind = json.loads(line)["type"]
            out.append(f"event: {kind}\ndata: {line}\n\n")
        else:
            out.append(f"data: {line}\n\n")
    if not name.startswith("anthropic"):
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


def provider_kind(name: str) -> str:
    if name.startswith("openrouter"):
        return "openrouter"
    if name.startswith(("anthropic_openai_compat", "openai_compat", "xai")):
        return "openai_compatible"
    return "anthropic"


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given offsets (sorted, deduplicated, inside the data)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    chunks, start = [], 0
    for point in points:
        chunks.append(data[start:point])
        start = point
    chunks.append(data[start:])
    return chunks


def sse_transport(
    chunks: Sequence[bytes],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    seen: list[httpx.Request] | None = None,
) -> httpx.MockTransport:
    """A transport answering every request with ``chunks`` (recorded in ``seen``)."""

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        all_headers = {"content-type": "text/event-stream"}
        all_headers.update(headers or {})
        return httpx.Response(status, headers=all_headers, content=body())

    return httpx.MockTransport(handler)


def make_provider(kind: str, client: httpx.AsyncClient, **kwargs: Any) -> Any:
    if kind == "openrouter":
        return OpenRouterProvider(
            api_key=SECRET,
            base_url="http://test/api/v1",
            client=client,
            allow_insecure_http=True,
            **kwargs,
        )
    if kind == "anthropic":
        return AnthropicProvider(
            api_key=SECRET,
            base_url="http://test",
            client=client,
            allow_insecure_http=True,
            **kwargs,
        )
    return OpenAICompatibleProvider(
        "http://test/v1", api_key=SECRET, client=client, allow_insecure_http=True, **kwargs
    )


CONTEXT = Context(system="Be brief.", messages=(UserMessage("hi"),))


async def run_stream(
    kind: str,
    chunks: Sequence[bytes],
    *,
    model: str = "test-model",
    context: Context = CONTEXT,
    transport_factory: Callable[..., httpx.MockTransport] = sse_transport,
) -> tuple[list[AssistantEvent], AssistantMessage]:
    """Stream ``chunks`` through the provider ``kind``: its events and final message."""
    async with httpx.AsyncClient(transport=transport_factory(chunks)) as client:
        provider = make_provider(kind, client)
        stream = provider.stream(context, ModelOptions(model=model))
        events = [event async for event in stream]
        return events, await stream.result()


def summary(message: AssistantMessage) -> dict[str, Any]:
    """The parts of a message the fixture tests check, as plain data."""
    return {
        "content": [block.to_dict() for block in message.content],
        "stop_reason": message.stop_reason.value,
        "usage": message.usage.to_dict(),
        "model": message.model,
        "response_id": message.response_id,
        "provider_data": message.provider_data,
    }
