"""Speed: agentkit's provider stream against a bare httpx reader, over loopback.

Run: ``.venv/bin/python tests/providers/bench_provider_stream.py [asyncio|trio]``.
Prints CPU microseconds per delta for each, and the ratio (target <= 1.5).
The server writes the whole stream in large chunks, so its own cost is small
and the same for both readers.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

import anyio
import httpx
from loopback_server import serve

from agentkit.events import TextDelta
from agentkit.messages import Context, UserMessage
from agentkit.providers.base import ModelOptions
from agentkit.providers.openrouter import OpenRouterProvider

DELTAS = 20_000


def stream_bytes() -> list[bytes]:
    lines = [b": OPENROUTER PROCESSING\n\n"]
    for i in range(DELTAS):
        chunk = {
            "id": "gen-1778031313-XM4XZGmFyt6jg3GZ772w",
            "object": "chat.completion.chunk",
            "created": 1778031313,
            "model": "anthropic/claude-4.7-opus-20260416",
            "provider": "Amazon Bedrock",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": f" word{i}", "role": "assistant"},
                    "finish_reason": None,
                    "native_finish_reason": None,
                }
            ],
        }
        lines.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    lines.append(
        b'data: {"id":"gen-1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":2,"cost":0.001}}\n\ndata: [DONE]\n\n'
    )
    data = b"".join(lines)
    return [data[i : i + 65536] for i in range(0, len(data), 65536)]


async def bare(url: str, client: httpx.AsyncClient) -> int:
    count = 0
    async with client.stream("POST", f"{url}/chat/completions", content=b"{}") as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                if chunk["choices"][0]["delta"].get("content"):
                    count += 1
    return count


async def agentkit_stream(url: str, client: httpx.AsyncClient) -> int:
    provider = OpenRouterProvider(api_key="k", base_url=url, client=client)
    context = Context(messages=(UserMessage("hi"),))
    count = 0
    async for event in provider.stream(context, ModelOptions("m")):
        if isinstance(event, TextDelta):
            count += 1
    return count


async def measure(reader: Any, url: str) -> float:
    async with httpx.AsyncClient() as client:
        start = time.process_time()
        count = await reader(url, client)
        elapsed = time.process_time() - start
    assert count == DELTAS, count
    return elapsed / DELTAS * 1e6


async def main() -> dict[str, float]:
    results: dict[str, list[float]] = {"bare": [], "agentkit": []}
    async with serve(stream_bytes()) as server:
        for _ in range(7):
            results["bare"].append(await measure(bare, server.url))
            results["agentkit"].append(await measure(agentkit_stream, server.url))
    return {name: statistics.median(values) for name, values in results.items()}


if __name__ == "__main__":
    backend = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    medians = anyio.run(main, backend=backend)
    ratio = medians["agentkit"] / medians["bare"]
    print(
        f"{backend}: bare {medians['bare']:.2f} us/delta, "
        f"agentkit {medians['agentkit']:.2f} us/delta, ratio {ratio:.2f}"
    )
