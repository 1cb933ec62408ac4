"""Properties of pause and resume (hypothesis).

Any sequence of pauses and decisions over generated batches answers every
tool call exactly once, runs each call at most once (never a denied one,
always an approved one or one that needed no approval) and leaves a history
every provider accepts; a :class:`Paused` state of any shape round-trips
through JSON.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import (
    Agent,
    Approval,
    AssistantMessage,
    Context,
    Message,
    ModelOptions,
    Paused,
    StopReason,
    ToolCall,
    ToolCallDecision,
    ToolResultMessage,
    Usage,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider
from agentkit.testing.strategies import assistant_messages, conversations, tool_results
from tests.protocol import check_protocol
from tests.test_pause import answered_once, collect

pytestmark = pytest.mark.anyio

KINDS = ("free", "guarded", "deferred", "alone")  # alone: a sequential tool needing approval


class Worker(Agent):
    model = "m"

    def __init__(self, turns: list[list[str]], ran: list[tuple[str, int]], **kw: Any) -> None:
        super().__init__(provider=ScriptedProvider(self.answer), **kw)
        self.turns = turns
        self.ran = ran

    def answer(self, context: Context, options: ModelOptions) -> Reply:
        done = sum(isinstance(m, AssistantMessage) for m in context.messages)
        if done >= len(self.turns):
            return Reply("finished")
        calls = [
            ToolCall(f"t{done}-{i}", kind, {"n": done * 10 + i})
            for i, kind in enumerate(self.turns[done])
        ]
        return Reply(tool_calls=calls)

    async def before_tool_call(self, call: ToolCall) -> ToolCallDecision | None:
        return ToolCallDecision.defer() if call.name == "deferred" else None

    @tool
    def free(self, n: int) -> str:
        """Needs no approval."""
        self.ran.append(("free", n))
        return f"free {n}"

    @tool(requires_approval=True)
    async def guarded(self, n: int) -> str:
        """Needs approval."""
        await anyio.lowlevel.checkpoint()
        self.ran.append(("guarded", n))
        return f"guarded {n}"

    @tool
    def deferred(self, n: int) -> str:
        """Deferred by the hook."""
        self.ran.append(("deferred", n))
        return f"deferred {n}"

    @tool(requires_approval=True, sequential=True)
    def alone(self, n: int) -> str:
        """Needs approval, runs alone."""
        self.ran.append(("alone", n))
        return f"alone {n}"


decision_kinds = st.sampled_from(["approve", "deny", "replace"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    turns=st.lists(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4), max_size=4),
    mode=st.sampled_from(["parallel", "sequential"]),
    data=st.data(),
)
async def test_any_pauses_and_decisions_answer_each_call_once(
    turns: list[list[str]], mode: str, data: st.DataObject
) -> None:
    ran: list[tuple[str, int]] = []
    agent = Worker(turns, ran, tool_execution=mode)
    decided: dict[str, str] = {}
    pauses = 0
    with anyio.fail_after(20):
        events, result = await collect(agent.prompt("go"))
        check_protocol(events, complete=True)
        while result.stop_reason is StopReason.PAUSED:
            paused = result.paused
            assert paused is not None
            pauses += 1
            # Parallel approvals of one batch are told apart by their call ids.
            assert len({c.id for c in paused.pending}) == len(paused.pending)
            decisions: dict[str, Approval] = {}
            for pending in paused.pending:
                kind = data.draw(decision_kinds, label=pending.id)
                decided[pending.id] = kind
                decisions[pending.id] = {
                    "approve": Approval.approve(),
                    "deny": Approval.deny("no"),
                    "replace": Approval.replace({"n": pending.arguments["n"] + 1000}),
                }[kind]
            if data.draw(st.booleans(), label="through JSON, into a new agent"):
                paused = Paused.from_json(paused.to_json())
                agent = Worker(turns, ran, tool_execution=mode)
            events, result = await collect(agent.resume_stream(paused, decisions))
            check_protocol(events, complete=True, first_turn=paused.turn + 1)
    assert result.stop_reason is StopReason.STOP and result.text == "finished"
    assert pauses == sum(any(k != "free" for k in kinds) for kinds in turns)
    history = agent.messages
    answered_once(history)
    # What ran: each call at most once; every free and approved one, no denied one.
    expected = []
    for t, kinds in enumerate(turns):
        for i, kind in enumerate(kinds):
            call_id, n = f"t{t}-{i}", t * 10 + i
            verdict = decided.get(call_id, "free")
            if kind == "free":
                assert call_id not in decided, "a call that needed no approval was not asked"
            if verdict in ("free", "approve"):
                expected.append((kind, n))
            elif verdict == "replace":
                expected.append((kind, n + 1000))
    assert sorted(ran) == sorted(expected)
    results = {m.tool_call_id: m for m in history if isinstance(m, ToolResultMessage)}
    for call_id, verdict in decided.items():
        assert results[call_id].is_error == (verdict == "deny")


@st.composite
def paused_states(draw: st.DrawFn) -> Paused:
    history = list(draw(conversations(max_turns=2, max_rounds=2)))
    size = draw(st.integers(1, 4))
    ids = tuple(f"p{n}" for n in range(size))
    answer = draw(assistant_messages(ids))
    waiting = draw(st.sets(st.sampled_from(ids), min_size=1))
    finished: list[Message] = [
        draw(tool_results(c.id, c.name)) for c in answer.tool_calls if c.id not in waiting
    ]
    counts = st.integers(0, 10**9)
    return Paused(
        run_id=draw(st.text(max_size=20)),
        agent=draw(st.text(max_size=40)),
        tools=draw(st.lists(st.text(max_size=10), max_size=4)),
        fingerprint=draw(st.text(max_size=64)),
        messages=(*history, answer, *finished),
        pending=tuple(c for c in answer.tool_calls if c.id in waiting),
        steering=draw(st.lists(st.sampled_from(history) if history else st.nothing(), max_size=2)),
        usage=Usage(
            draw(counts),
            draw(counts),
            draw(counts),
            draw(counts),
            0,
            0,
            draw(st.floats(0, 1e6, allow_nan=False)),
        ),
        turn=draw(counts),
        requests=draw(counts),
        tool_calls=draw(counts),
        seconds=draw(st.floats(0, 1e9, allow_nan=False)),
        terminate=draw(st.booleans()),
    )


@settings(max_examples=150, deadline=None)
@given(paused=paused_states())
def test_any_paused_state_round_trips_through_json(paused: Paused) -> None:
    text = paused.to_json()
    again = Paused.from_json(text)
    assert again == paused
    assert again.to_json() == text
