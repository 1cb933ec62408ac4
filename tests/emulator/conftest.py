"""Fixtures for the emulator tests: one shared server per module, reset before each test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentkit.testing.emulator import Emulator

SseEvent = tuple[str | None, Any]


def parse_sse(text: str) -> list[SseEvent]:
    """(event name or None, parsed data) per SSE frame; comments become ("comment", text)."""
    events: list[SseEvent] = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name: str | None = None
        data: list[str] = []
        for line in frame.split("\n"):
            if line.startswith(":"):
                events.append(("comment", line[1:].strip()))
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            raw = "\n".join(data)
            events.append((name, raw if raw == "[DONE]" else json.loads(raw)))
    return events


@pytest.fixture(scope="module")
def shared_emulator() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def emu(shared_emulator: Emulator) -> Emulator:
    shared_emulator.reset()
    return shared_emulator


@pytest.fixture
def sse() -> Callable[[str], list[SseEvent]]:
    return parse_sse


LONG_SYSTEM = "You are a careful assistant who answers briefly. " * 200  # 9,800 chars
SHORT_SYSTEM = "You are terse. " * 50


@pytest.fixture
def long_system() -> str:
    assert len(LONG_SYSTEM) // 4 >= 2048
    return LONG_SYSTEM


@pytest.fixture
def short_system() -> str:
    return SHORT_SYSTEM
