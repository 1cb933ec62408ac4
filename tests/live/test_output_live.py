"""Live typed output against the real services, in every mode; runs only when an API key is set.

It checks what the emulator cannot: that the services take agentkit's
native structured-output fields (Anthropic ``output_config.format``,
OpenRouter ``response_format`` with ``require_parameters``) and answer in
the schema.
"""

from __future__ import annotations

import os
from typing import Any, TypedDict

import anyio
import pytest

from agentkit import Agent, AnthropicProvider, OpenRouterProvider

pytestmark = pytest.mark.live

TARGETS = [
    pytest.param(
        OpenRouterProvider,
        "anthropic/claude-haiku-4.5",
        marks=pytest.mark.skipif(
            not os.environ.get("OPENROUTER_API_KEY"), reason="OPENROUTER_API_KEY is not set"
        ),
        id="openrouter",
    ),
    pytest.param(
        AnthropicProvider,
        "claude-haiku-4-5",
        marks=pytest.mark.skipif(
            not os.environ.get("ANTHROPIC_API_KEY"), reason="ANTHROPIC_API_KEY is not set"
        ),
        id="anthropic",
    ),
]


class City(TypedDict):
    name: str
    country: str


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # one backend is enough against a paid service


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["tool", "native", "prompted"])
@pytest.mark.parametrize(("provider_class", "model"), TARGETS)
async def test_a_typed_answer_from_the_service(provider_class: Any, model: str, mode: str) -> None:
    with anyio.fail_after(120):
        async with provider_class() as provider:
            agent = Agent(provider, model=model, max_tokens=300, output_type=City, output_mode=mode)
            result = await agent.run("Which city is the capital of France? Name its country too.")
    assert result.output["name"].lower() == "paris"
    assert "france" in result.output["country"].lower()
