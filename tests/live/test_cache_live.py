"""Live cache check against the real services; runs only when an API key is set.

Two identical requests with a system prompt above the model's minimum
cacheable prefix: the second must read from the cache. Through OpenRouter
only ``cached_tokens`` is asserted: OpenRouter has at times not reported
cache writes at all, so a write figure proves nothing either way.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import pytest

from agentkit import Agent, AnthropicProvider, OpenRouterProvider
from agentkit.transforms._caching import cache_breakpoints

pytestmark = pytest.mark.live

# Sonnet 4.5 caches prefixes from 1,024 tokens; the prompt is about 2,400.
SYSTEM = "You review Python code. Cite the line you mean; be brief. " * 170

TARGETS = [
    pytest.param(
        OpenRouterProvider,
        "anthropic/claude-sonnet-4.5",
        marks=pytest.mark.skipif(
            not os.environ.get("OPENROUTER_API_KEY"), reason="OPENROUTER_API_KEY is not set"
        ),
        id="openrouter",
    ),
    pytest.param(
        AnthropicProvider,
        "claude-sonnet-4-5",
        marks=pytest.mark.skipif(
            not os.environ.get("ANTHROPIC_API_KEY"), reason="ANTHROPIC_API_KEY is not set"
        ),
        id="anthropic",
    ),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # one backend is enough against a paid service


@pytest.mark.anyio
@pytest.mark.parametrize(("provider_class", "model"), TARGETS)
async def test_the_second_identical_request_reads_the_cache(
    provider_class: Any, model: str
) -> None:
    assert cache_breakpoints.applies_to(model)
    with anyio.fail_after(120):
        async with provider_class() as provider:
            first = Agent(provider=provider, model=model, system_prompt=SYSTEM, max_tokens=20)
            second = Agent(provider=provider, model=model, system_prompt=SYSTEM, max_tokens=20)
            await first.run("Reply with the single word: ready")
            result = await second.run("Reply with the single word: ready")
    usage = result.usage
    # OpenRouter: usage.cache_read is its prompt_tokens_details.cached_tokens;
    # Anthropic: its cache_read_input_tokens.
    assert usage.cache_read > 0, f"no cache read on the second request: {usage}"
