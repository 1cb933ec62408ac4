"""Content capture: off by default, opt-in, every captured value bounded."""

from __future__ import annotations

import json

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit import Agent, AssistantMessage, TextContent, ToolCall, UserMessage, tool
from agentkit.otel._content import bounded_text, messages_json, system_json
from agentkit.testing import Reply, ScriptedProvider, call

from .conftest import Telemetry

CONTENT_KEYS = {
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}
LONG = "word " * 400  # 2000 characters, far over the tests' 256


class Echo(Agent):
    model = "m"
    system_prompt = "Repeat what tools say. " + LONG

    @tool
    def echo(self, text: str) -> str:
        """Say it back."""
        return "echo: " + text


def script() -> ScriptedProvider:
    return ScriptedProvider([Reply(tool_calls=[call("echo", text="PRIVATE " + LONG)]), "PRIVATE."])


async def run_echo() -> None:
    with anyio.fail_after(10):
        await Echo(provider=script()).run("PRIVATE question " + LONG)


@pytest.mark.anyio
async def test_no_content_is_captured_by_default(telemetry: Telemetry) -> None:
    await run_echo()
    assert len(telemetry.spans()) == 4
    for span in telemetry.spans():
        assert CONTENT_KEYS.isdisjoint(span.attributes or {}), span.name
    assert "PRIVATE" not in telemetry.dump()


@pytest.mark.anyio
async def test_captured_content_follows_the_schema_and_is_bounded(capturing: Telemetry) -> None:
    await run_echo()
    first_chat = min(capturing.named("chat "), key=lambda s: s.start_time or 0)
    attributes = first_chat.attributes or {}
    (user,) = json.loads(attributes["gen_ai.input.messages"])  # type: ignore[arg-type]
    assert user["role"] == "user"
    assert user["parts"][0]["type"] == "text"
    assert user["parts"][0]["content"].startswith("PRIVATE question")
    (answer,) = json.loads(attributes["gen_ai.output.messages"])  # type: ignore[arg-type]
    assert answer["role"] == "assistant" and answer["finish_reason"] == "tool_use"
    assert answer["parts"][0]["type"] == "tool_call"
    assert answer["parts"][0]["name"] == "echo"
    system = json.loads(attributes["gen_ai.system_instructions"])  # type: ignore[arg-type]
    assert system[0]["content"].startswith("Repeat what tools say.")
    executed = capturing.one("execute_tool echo").attributes or {}
    assert str(executed["gen_ai.tool.call.arguments"]).startswith('{"text": "PRIVATE')
    assert str(executed["gen_ai.tool.call.result"]).startswith("echo: PRIVATE")
    found = 0
    for span in capturing.spans():
        for key in CONTENT_KEYS & set(span.attributes or {}):
            found += 1
            assert len(str(span.attributes[key])) <= 256, (span.name, key)  # type: ignore[index]
    assert found == 2 * 3 + 1 + 2  # the chats' three, the run's system, the tool's two


def messages() -> st.SearchStrategy[list[UserMessage | AssistantMessage]]:
    text = st.text(max_size=600)
    user = st.builds(UserMessage, text)
    assistant = st.builds(
        lambda t, args: AssistantMessage(
            (TextContent(t), ToolCall("call_1", "f", {"a": args})), model="m"
        ),
        text,
        text,
    )
    return st.lists(st.one_of(user, assistant), max_size=8)


@given(messages(), st.integers(min_value=64, max_value=2000))
def test_a_message_list_is_valid_json_within_the_limit(
    history: list[UserMessage | AssistantMessage], limit: int
) -> None:
    text = messages_json(history, limit)
    assert len(text) <= limit
    kept = json.loads(text)
    assert isinstance(kept, list)
    if len(json.dumps(kept)) < limit // 2 and kept:
        # What is kept is the newest messages, in order.
        assert [m["role"] for m in kept] == [m.role for m in history[len(history) - len(kept) :]]


@given(messages(), st.integers(min_value=10_000, max_value=20_000))
def test_what_fits_is_kept_whole(history: list[UserMessage | AssistantMessage], limit: int) -> None:
    kept = json.loads(messages_json(history, limit))
    assert len(kept) == len(history)


@given(st.text(max_size=3000), st.integers(min_value=64, max_value=2000))
def test_a_text_is_cut_within_the_limit(text: str, limit: int) -> None:
    cut = bounded_text(text, limit)
    assert len(cut) <= limit
    assert cut == text or (cut.endswith("…[cut]") and text.startswith(cut[: -len("…[cut]")]))


@given(st.lists(st.text(max_size=500), max_size=5), st.integers(min_value=64, max_value=800))
def test_system_instructions_are_valid_json_within_the_limit(blocks: list[str], limit: int) -> None:
    text = system_json([TextContent(b) for b in blocks], limit)
    assert len(text) <= limit
    assert isinstance(json.loads(text), list)
