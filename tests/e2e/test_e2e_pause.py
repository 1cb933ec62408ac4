"""End to end over loopback HTTP: a run pauses, its state goes through JSON, a new agent resumes."""

from __future__ import annotations

import anyio
import pytest

from agentkit import Agent, Approval, Paused, StopReason, ToolResultMessage, tool
from agentkit.testing.emulator import Emulator, EmulatorConfig, ModelReply, ToolUse
from tests.e2e.test_e2e_caching import APIS, HAIKU, provider_for, system_prompt
from tests.test_pause import answered_once

pytestmark = pytest.mark.anyio


class Cleaner(Agent):
    ran: list[str]

    def __init__(self, *args: object, ran: list[str], **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.ran = ran

    @tool
    def look(self, path: str) -> str:
        """Show a file's size."""
        self.ran.append(f"look {path}")
        return f"{path}: 5 MB"

    @tool(requires_approval=True)
    def delete(self, path: str) -> str:
        """Delete a file."""
        self.ran.append(f"delete {path}")
        return f"deleted {path}"


SCRIPT = [
    ModelReply(
        thinking="Look first, then delete the logs.",
        tool_calls=[
            ToolUse("look", {"path": "a.log"}, id="call-look"),
            ToolUse("delete", {"path": "a.log"}, id="call-a"),
            ToolUse("delete", {"path": "b.log"}, id="call-b"),
        ],
    ),
    ModelReply(text="One more.", tool_calls=[ToolUse("delete", {"path": "c.log"}, id="call-c")]),
    ModelReply(text="Cleaned up a.log and c.log; kept b.log."),
]


@pytest.mark.parametrize("api", APIS)
async def test_a_paused_run_resumes_in_a_new_agent_over_http(anyio_backend: str, api: str) -> None:
    ran: list[str] = []
    options = {"model": HAIKU[api], "system_prompt": system_prompt(2400), "ran": ran}
    with anyio.fail_after(30):
        async with Emulator(script=SCRIPT, config=EmulatorConfig()) as emu:
            async with provider_for(api, emu) as provider:  # type: ignore[attr-defined]
                first = await Cleaner(provider=provider, **options).run("Free some space.")
            assert first.stop_reason is StopReason.PAUSED and first.paused is not None
            text = first.paused.to_json()
            # As another process would: a new provider, a new agent, the state from JSON.
            async with provider_for(api, emu) as provider:  # type: ignore[attr-defined]
                agent = Cleaner(provider=provider, **options)
                decisions = {"call-a": Approval.approve(), "call-b": Approval.deny("keep it")}
                second = await agent.resume(Paused.from_json(text), decisions)
                assert second.stop_reason is StopReason.PAUSED and second.paused is not None
                again = Paused.from_json(second.paused.to_json())
                third = await agent.resume(again, {"call-c": Approval.approve()})
        records = emu.requests
    assert third.text == "Cleaned up a.log and c.log; kept b.log."
    assert ran == ["look a.log", "delete a.log", "delete c.log"]
    assert [r.status for r in records] == [200, 200, 200], "the service accepted every history"
    # The resumed request continues the paused one's prompt exactly: it reads its cache.
    assert records[1].cache is not None and records[0].cache is not None
    assert records[1].cache.read_tokens == records[0].cache.total_tokens
    answered_once(agent.messages)
    denied = [m for m in agent.messages if isinstance(m, ToolResultMessage) and m.is_error]
    assert [m.tool_call_id for m in denied] == ["call-b"]
