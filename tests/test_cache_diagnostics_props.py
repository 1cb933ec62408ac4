"""Properties of the emulator's cache diagnostics (agentkit.testing.emulator._cache)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agentkit.testing.emulator._cache import Position, diagnose, fingerprint

keys = st.lists(st.text(min_size=1, max_size=8), min_size=0, max_size=6)


def prompt(tools: list[str], system: list[str], messages: list[str]) -> list[Position]:
    return [Position(f"t{k}", 10) for k in tools] + [
        Position(f"s{k}", 10) for k in [*system, *messages]
    ]


@given(keys, keys, keys, keys)
def test_appending_messages_is_never_a_miss(
    tools: list[str], system: list[str], old: list[str], new: list[str]
) -> None:
    sections = (len(tools), len(system))
    before = fingerprint("m", prompt(tools, system, old), sections)
    after = fingerprint("m", prompt(tools, system, old + new), sections)
    assert diagnose(before, after) == (None, None)


@given(keys, keys, keys, st.integers(min_value=0, max_value=5))
def test_an_edited_message_is_messages_changed_and_misses_from_there(
    tools: list[str], system: list[str], messages: list[str], at: int
) -> None:
    if not messages:
        messages = ["only"]
    at %= len(messages)
    edited = [*messages[:at], messages[at] + "!", *messages[at + 1 :]]
    sections = (len(tools), len(system))
    reason, missed = diagnose(
        fingerprint("m", prompt(tools, system, messages), sections),
        fingerprint("m", prompt(tools, system, edited), sections),
    )
    assert reason == "messages_changed"
    assert missed == 10 * (len(messages) - at)


@given(keys, keys, keys)
def test_the_first_divergence_wins(
    tools: list[str], system: list[str], messages: list[str]
) -> None:
    sections = (len(tools), len(system))
    base = fingerprint("m", prompt(tools, system, messages), sections)
    other_system = fingerprint(
        "m", prompt(tools, [*system, "x"], messages), (len(tools), len(system) + 1)
    )
    other_tools = fingerprint(
        "m", prompt([*tools, "x"], [*system, "x"], messages), (len(tools) + 1, len(system) + 1)
    )
    assert diagnose(base, other_system)[0] == "system_changed"
    assert diagnose(base, other_tools)[0] == "tools_changed"
    assert (
        diagnose(base, fingerprint("n", prompt(tools, system, messages), sections))[0]
        == "model_changed"
    )
    assert diagnose(None, base) == ("previous_message_not_found", None)
