"""The event protocol of a run, as a checker the tests share."""

from __future__ import annotations

from collections.abc import Sequence

from agentkit import (
    AgentEnd,
    AgentEvent,
    AgentStart,
    AssistantMessage,
    MessageEnd,
    MessageStart,
    MessageUpdate,
    StopReason,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolExecutionUpdate,
    TurnEnd,
    TurnStart,
)


def check_protocol(events: Sequence[AgentEvent], *, complete: bool, first_turn: int = 1) -> None:
    """Assert the protocol; ``complete`` runs end with AgentEnd, failed runs are a valid prefix.

    A run that pauses leaves its pending calls started, never ended; a resumed
    run's turns count on from the paused run's (``first_turn``).
    """
    assert events, "a run emits at least AgentStart"
    assert isinstance(events[0], AgentStart)
    assert sum(isinstance(e, AgentStart) for e in events) == 1
    ends = [i for i, e in enumerate(events) if isinstance(e, AgentEnd)]
    if complete:
        assert ends == [len(events) - 1], "AgentEnd comes once, last"
    else:
        assert ends == [], "a failed run has no AgentEnd"

    end = events[-1]
    paused = end.paused if isinstance(end, AgentEnd) else None
    waiting = {c.id for c in paused.pending} if paused is not None else set()
    open_turn: int | None = None
    last_turn = first_turn - 1
    open_message = False
    running: set[str] = set()
    finished: set[str] = set()
    new_messages = []
    for event in events[1:]:
        match event:
            case TurnStart(turn=turn):
                assert open_turn is None, "turns do not nest"
                assert turn == last_turn + 1, "turns count up from 1"
                open_turn = last_turn = turn
            case TurnEnd(turn=turn, message=message, tool_results=results):
                assert open_turn == turn
                assert not open_message
                assert running <= waiting, "every tool ended before its turn, but paused ones"
                if message is not None and results:
                    assert [r.tool_call_id for r in results] == [c.id for c in message.tool_calls]
                open_turn = None
            case MessageStart(message=message):
                assert open_turn is not None, "messages belong to a turn"
                assert not open_message, "messages do not nest"
                open_message = True
            case MessageUpdate():
                assert open_message
            case MessageEnd(message=message):
                assert open_message, "every MessageEnd has its MessageStart"
                open_message = False
                new_messages.append(message)
            case ToolExecutionStart(call=call):
                assert not open_message
                assert call.id not in running and call.id not in finished
                assert call.id not in waiting or call.id not in finished
                running.add(call.id)
            case ToolExecutionUpdate(call=call):
                assert call.id in running
            case ToolExecutionEnd(call=call, result=result):
                assert call.id in running, "one ToolExecutionEnd per start"
                assert result.tool_call_id == call.id
                running.remove(call.id)
                finished.add(call.id)
            case AgentEnd(messages=messages):
                assert open_turn is None, "turns balanced"
                assert running == waiting, "the paused calls are the ones left started"
                assert (event.stop_reason is StopReason.PAUSED) == (paused is not None)
                assert not open_message, "every MessageStart has one MessageEnd"
                assert list(messages) == new_messages, "AgentEnd carries every new message"
                assert (
                    sum(
                        (m.usage for m in messages if isinstance(m, AssistantMessage)),
                        start=type(event.usage)(),
                    )
                    == event.usage
                )
            case _:
                raise AssertionError(f"unexpected event {event!r}")
