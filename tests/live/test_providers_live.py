"""Live requests to the real services; each runs only when its API key is set."""

from __future__ import annotations

import os
from typing import Any

import anyio
import pytest

from agentkit._messages import Context, StopReason, ToolDefinition, UserMessage
from agentkit.providers._anthropic import AnthropicProvider
from agentkit.providers._base import ModelOptions
from agentkit.providers._openrouter import OpenRouterProvider

pytestmark = pytest.mark.live

WEATHER = ToolDefinition(
    "get_weather",
    "Get the current weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)

PROVIDERS = [
    pytest.param(
        "OPENROUTER_API_KEY",
        OpenRouterProvider,
        "anthropic/claude-haiku-4.5",
        marks=pytest.mark.skipif(
            not os.environ.get("OPENROUTER_API_KEY"), reason="OPENROUTER_API_KEY is not set"
        ),
        id="openrouter",
    ),
    pytest.param(
        "ANTHROPIC_API_KEY",
        AnthropicProvider,
        "claude-haiku-4-5",
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
@pytest.mark.parametrize(("variable", "provider_class", "model"), PROVIDERS)
async def test_short_text(variable: str, provider_class: Any, model: str) -> None:
    with anyio.fail_after(60):
        async with provider_class() as provider:
            context = Context(messages=(UserMessage("Reply with the single word: pong"),))
            message = await provider.stream(context, ModelOptions(model, max_tokens=20)).result()
    assert "pong" in message.text.lower()
    assert message.stop_reason is StopReason.STOP
    assert message.usage.input > 0
    assert message.usage.output > 0
    assert message.usage.cost > 0
    assert message.response_id


@pytest.mark.anyio
@pytest.mark.parametrize(("variable", "provider_class", "model"), PROVIDERS)
async def test_tool_call(variable: str, provider_class: Any, model: str) -> None:
    with anyio.fail_after(60):
        async with provider_class() as provider:
            context = Context(
                system="Use the get_weather tool to answer.",
                messages=(UserMessage("What is the weather in Paris?"),),
                tools=(WEATHER,),
            )
            message = await provider.stream(context, ModelOptions(model, max_tokens=200)).result()
    assert message.stop_reason is StopReason.TOOL_USE
    (call,) = message.tool_calls
    assert call.name == "get_weather"
    assert call.arguments_error is None
    assert "paris" in str(call.arguments.get("city", "")).lower()
