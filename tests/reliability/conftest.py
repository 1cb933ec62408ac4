"""One emulator for each reliability test module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agentkit.testing.emulator import Emulator
from tests.reliability.helpers import MODELS, Phases, phases_of, weather_policy

_TOOLS = [{"name": "forecast", "description": "d", "input_schema": {"type": "object"}}]


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    with Emulator(script=weather_policy) as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: Emulator) -> Emulator:
    shared_emulator.reset(script=weather_policy)
    return shared_emulator


@pytest.fixture(scope="module")
def phases(shared_emulator: Emulator) -> dict[str, Phases]:
    """Where each phase falls in a clean first answer, per API."""
    with httpx.Client(timeout=10) as client:
        anthropic = client.post(
            f"{shared_emulator.anthropic_base_url}/v1/messages",
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
            json={
                "model": MODELS["anthropic"],
                "max_tokens": 100,
                "stream": True,
                "messages": [{"role": "user", "content": "Weather?"}],
                "tools": _TOOLS,
            },
        )
        openrouter = client.post(
            f"{shared_emulator.openrouter_base_url}/chat/completions",
            headers={"authorization": "Bearer k"},
            json={
                "model": MODELS["openrouter"],
                "stream": True,
                "messages": [{"role": "user", "content": "Weather?"}],
            },
        )
    shared_emulator.reset(script=weather_policy)
    return {
        "anthropic": phases_of("anthropic", anthropic.text),
        "openrouter": phases_of("openrouter", openrouter.text),
    }
