"""Which provider a command-line session (or the demo) talks to.

With ``OPENROUTER_API_KEY`` set the default is OpenRouter; else with
``ANTHROPIC_API_KEY``, Anthropic; else a local emulator started in-process,
so everything works offline and free.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from attrs import define

from agentkit.providers.anthropic import AnthropicProvider
from agentkit.providers.base import Provider
from agentkit.providers.openai_compat import OpenAICompatibleProvider
from agentkit.providers.openrouter import OpenRouterProvider

__all__ = ["CHOICES", "Session", "open_session"]

CHOICES = ("auto", "openrouter", "anthropic", "openai-compatible", "emulator")
DEFAULT_MODELS = {
    "openrouter": "anthropic/claude-sonnet-4.5",
    "anthropic": "claude-sonnet-4-5",
    "emulator": "anthropic/claude-sonnet-4.5",
}
# The emulator checks nothing about the key; a recognisable dummy keeps that obvious.
_EMULATOR_KEY = "emulator-local-key"


@define(frozen=True, slots=True)
class Session:
    """A provider ready to use, the model to ask, and where requests go (for humans)."""

    provider: Provider
    model: str
    where: str


def _auto() -> str:
    if os.environ.get("OPENROUTER_API_KEY"):
        return "openrouter"
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic"
    return "emulator"


@asynccontextmanager
async def open_session(
    choice: str = "auto", *, model: str | None = None, base_url: str | None = None
) -> AsyncIterator[Session]:
    """The provider for ``choice``; the emulator, if chosen, runs for the block's lifetime."""
    if choice not in CHOICES:
        raise ValueError(f"unknown provider {choice!r}; choose one of {', '.join(CHOICES)}")
    kind = _auto() if choice == "auto" else choice
    if kind == "openai-compatible":
        if base_url is None or model is None:
            raise ValueError("openai-compatible needs --base-url and --model")
        async with OpenAICompatibleProvider(base_url=base_url) as compatible:
            yield Session(compatible, model, base_url)
        return
    chosen_model = model or DEFAULT_MODELS[kind]
    if kind == "openrouter":
        openrouter = OpenRouterProvider(base_url=base_url) if base_url else OpenRouterProvider()
        async with openrouter:
            yield Session(openrouter, chosen_model, base_url or "OpenRouter")
        return
    if kind == "anthropic":
        anthropic = AnthropicProvider(base_url=base_url) if base_url else AnthropicProvider()
        async with anthropic:
            yield Session(anthropic, chosen_model, base_url or "Anthropic")
        return
    from agentkit.testing.emulator import Emulator, demo_policy  # noqa: PLC0415 - optional extra

    async with (
        Emulator(script=demo_policy) as emulator,
        OpenRouterProvider(api_key=_EMULATOR_KEY, base_url=emulator.openrouter_base_url) as local,
    ):
        yield Session(local, chosen_model, f"the local emulator at {emulator.base_url}")
