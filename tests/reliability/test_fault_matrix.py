"""The fault matrix: every emulator fault at every phase, tool faults and consumer behaviours.

Each case runs an ``Agent`` over HTTP against the emulator, then checks: the
documented outcome, no task left behind, no HTTP response left open, the
history holding exactly the messages that had a ``MessageEnd``, and a clean
prompt succeeding on the same agent. Pruning (see docs/reliability.md): each
axis is crossed fully with a baseline of the others, plus a fixed-seed sample
of full combinations.
"""

from __future__ import annotations

import random
from typing import Any

import anyio
import httpx
import pytest
from attrs import define

from agentkit import (
    Agent,
    AuthenticationError,
    MessageUpdate,
    MidStreamError,
    OverloadedError,
    ProviderConnectionError,
    ProviderError,
    ResponseFormatError,
    RunResult,
    StopReason,
    StreamClosedError,
    StreamStalledError,
    Tool,
    ToolExecutionStart,
    ToolResultMessage,
    tool,
)
from agentkit.providers import RedirectError
from agentkit.testing import CountingTransport
from agentkit.testing.emulator import (
    DripFault,
    DropFault,
    Emulator,
    Fault,
    GzipBombFault,
    KeepAliveFault,
    MalformedFault,
    NotStreamFault,
    RedirectFault,
    StallFault,
    StatusFault,
    StreamErrorFault,
)
from tests.protocol import check_protocol
from tests.reliability.helpers import (
    FINAL_TEXT,
    MODELS,
    PATIENT,
    TIMEOUTS,
    MessageLog,
    Phases,
    TaskSnapshot,
    make_provider,
)

pytestmark = pytest.mark.anyio

APIS = ("anthropic", "openrouter")
STREAM_PHASES = ("start", "before_first_delta", "mid_text", "mid_tool_args", "at_usage")
#: Faults of the whole response: (name, error or None for success).
WHOLE: dict[str, type[ProviderError] | None] = {
    "none": None,
    "status_429_retry_after": None,  # retried, then answered
    "status_429": None,  # retried after the backoff, then answered
    "status_500": None,
    "status_503_exhausted": OverloadedError,  # three 503s: retries used up
    "status_401": AuthenticationError,  # never retried
    "stall_before_headers": None,  # no headers within the idle timeout: retried
    "drip": None,  # the body a few bytes at a time: just slow
    "redirect_307": RedirectError,  # never followed, never retried
    "gzip_bomb_500": None,  # a 500 whose gzip body inflates to 64 MiB: bounded, retried
    "json_answer": None,  # a whole JSON answer to a streaming request: the same answer
    "html_answer": ResponseFormatError,  # a 200 page that is no answer: typed, not retried
}
#: Faults inside the stream, tried at every phase.
IN_STREAM: dict[str, type[ProviderError]] = {
    "stream_error": MidStreamError,
    "drop": ProviderConnectionError,
    "stall": StreamStalledError,
    "malformed": ResponseFormatError,
    "keepalive": StreamStalledError,  # pings / empty chunks only: no progress, a stall
}
TOOL_FAULTS = ("ok", "raises", "hangs", "unserialisable")
CONSUMERS = (
    "reads_all",
    "breaks_at_text",
    "cancelled_at_text",
    "aborts_at_text",
    "breaks_at_tool",
    "cancelled_at_tool",
    "aborts_at_tool",
)


@define(frozen=True)
class Case:
    api: str
    fault: str  # a key of WHOLE, or "<in-stream fault>@<phase>"
    tool: str = "ok"
    consumer: str = "reads_all"

    @property
    def id(self) -> str:
        return f"{self.api}-{self.fault}-{self.tool}-{self.consumer}"


def all_faults() -> list[str]:
    return [*WHOLE, *(f"{kind}@{phase}" for kind in IN_STREAM for phase in STREAM_PHASES)]


def build_cases() -> list[Case]:
    cases = [Case(api, fault) for api in APIS for fault in all_faults()]
    cases += [Case(api, "none", tool=t) for api in APIS for t in TOOL_FAULTS if t != "ok"]
    cases += [Case(api, "none", consumer=c) for api in APIS for c in CONSUMERS[1:]]
    rng = random.Random(8)  # a fixed sample of full combinations
    seen, target = set(cases), len(cases) + 16
    while len(cases) < target:
        case = Case(
            rng.choice(APIS), rng.choice(all_faults()), rng.choice(TOOL_FAULTS),
            rng.choice(CONSUMERS),
        )  # fmt: skip
        if case not in seen:
            seen.add(case)
            cases.append(case)
    return cases


CASES = build_cases()


def injected(case: Case, phases: dict[str, Phases]) -> tuple[Fault, int] | None:
    """The emulator fault for ``case`` and how many requests it hits."""
    kind, _, phase = case.fault.partition("@")
    where = phases[case.api]
    after = where.frames.get(phase, 0)
    table: dict[str, tuple[Fault, int] | None] = {
        "none": None,
        "status_429_retry_after": (StatusFault(429, retry_after=0), 1),
        "status_429": (StatusFault(429), 1),
        "status_500": (StatusFault(500), 1),
        "status_503_exhausted": (StatusFault(503, retry_after=0), 3),
        "status_401": (StatusFault(401), 1),
        "stall_before_headers": (StallFault(seconds=30, before_headers=True), 1),
        "drip": (DripFault(chunk=256, delay=0.001), 1),
        "stream_error": (StreamErrorFault(after=after), 1),
        "drop": (DropFault(after_bytes=where.offsets.get(phase, 0)), 1),
        "stall": (StallFault(seconds=30, after=after), 1),
        "malformed": (MalformedFault(after=after), 1),
        "redirect_307": (RedirectFault(307), 1),
        "gzip_bomb_500": (GzipBombFault(500), 1),
        "json_answer": (NotStreamFault(), 1),
        "html_answer": (NotStreamFault("text/html"), 1),
        "keepalive": (KeepAliveFault(after=after, interval=0.02), 1),
    }
    return table[kind]


def make_tool(kind: str) -> Tool:
    if kind == "raises":

        @tool
        async def forecast(city: str) -> str:
            """Today's forecast."""
            raise RuntimeError("the forecast service is down")

    elif kind == "hangs":

        @tool(timeout=0.05)
        async def forecast(city: str) -> str:
            """Today's forecast."""
            await anyio.sleep(30)
            return "late"

    elif kind == "unserialisable":

        @tool
        async def forecast(city: str) -> Any:
            """Today's forecast."""
            return object()

    else:

        @tool
        async def forecast(city: str) -> str:
            """Today's forecast."""
            await anyio.sleep(0.01)  # running long enough to be aborted while it runs
            return "rain, 9 °C"

    return forecast


TOOL_RESULTS = {
    "ok": "rain, 9 °C",
    "raises": "Tool 'forecast' failed: RuntimeError: the forecast service is down",
    "hangs": "Tool 'forecast' timed out after 0.05 s.",
    "unserialisable": "Tool 'forecast' failed: ToolOutputError: tool 'forecast' returned object",
}


def fault_error(case: Case) -> type[ProviderError] | None:
    kind, _, _ = case.fault.partition("@")
    return WHOLE[kind] if kind in WHOLE else IN_STREAM[kind]


def fault_precedes_text(case: Case) -> bool:
    """Whether the fault strikes before the consumer could see the first text delta."""
    kind, _, phase = case.fault.partition("@")
    return kind in WHOLE or phase in ("start", "before_first_delta")


async def drive(agent: Agent, consumer: str) -> RunResult | BaseException:
    """Run one prompt the way ``consumer`` reads it; return the result or what it raised."""
    action, _, point = consumer.partition("_at_")
    trigger: type[Any] = MessageUpdate if point == "text" else ToolExecutionStart
    if action == "aborts":
        unsubscribe = agent.subscribe(
            lambda event: agent.abort() if isinstance(event, trigger) else None
        )
    stream = agent.prompt("Weather in Oslo?")
    try:
        if action == "breaks":  # detached: the stream starts on first use
            async for event in stream:
                if isinstance(event, trigger):
                    break
        elif action == "cancelled":  # structured, inside a scope cancelled from outside
            with anyio.CancelScope() as scope:
                async with stream:
                    async for event in stream:
                        if isinstance(event, trigger):
                            scope.cancel()
        else:
            async with stream:
                async for _ in stream:
                    pass
        return await stream.result()
    except Exception as exc:
        return exc
    finally:
        if action == "aborts":
            unsubscribe()


def check_outcome(case: Case, outcome: RunResult | BaseException, log: MessageLog) -> str:
    """Assert the documented outcome of ``case``; returns its name for the summary."""
    error = fault_error(case)
    action, _, point = case.consumer.partition("_at_")
    consumer_first = action != "reads_all" and not (error is not None and fault_precedes_text(case))
    if point == "tool" and error is not None:
        consumer_first = False  # the faulted first answer never reaches a tool
    if not consumer_first:
        if error is not None:
            assert type(outcome) is error, f"expected {error.__name__}, got {outcome!r}"
            assert isinstance(outcome, ProviderError)
            assert outcome.messages == tuple(log.ended)
            return error.__name__
        assert isinstance(outcome, RunResult), repr(outcome)
        assert outcome.stop_reason is StopReason.STOP
        assert outcome.text == FINAL_TEXT
        results = [m for m in outcome.messages if isinstance(m, ToolResultMessage)]
        assert len(results) == 1
        assert results[0].text.startswith(TOOL_RESULTS[case.tool])
        assert results[0].is_error is (case.tool != "ok")
        return "STOP"
    if action == "aborts":
        _, _, phase = case.fault.partition("@")
        if error is not None and phase == "mid_text" and type(outcome) is error:
            # The fault's frame follows the first text delta at once: both can come
            # in one network read, whose failure is raised before the abort lands.
            return error.__name__
        assert isinstance(outcome, RunResult), repr(outcome)
        assert outcome.stop_reason is StopReason.ABORTED
        return "ABORTED"
    # A consumer that left: the stream is closed. A fault that had already ended the
    # run before the consumer left may be what result() reports instead.
    allowed: tuple[type[BaseException], ...] = (StreamClosedError,)
    if error is not None:
        allowed += (error,)
    assert isinstance(outcome, allowed), repr(outcome)
    return "StreamClosedError"


def check_requests_valid(emu: Emulator) -> None:
    """Every tool call the model was shown is answered in the very next turn."""
    for record in emu.requests:
        if record.request is None:
            continue
        turns = record.request.turns
        for turn, following in zip(turns, (*turns[1:], None), strict=True):
            calls = {b.id for b in turn.blocks if b.kind == "tool_use"}
            if calls:
                assert following is not None, f"request {record.index}: calls left unanswered"
                answered = {b.id for b in following.blocks if b.kind == "tool_result"}
                assert calls <= answered, f"request {record.index}: unanswered {calls - answered}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_fault_case(case: Case, emu: Emulator, phases: dict[str, Phases]) -> None:
    with anyio.fail_after(15):
        counter = CountingTransport()
        snapshot = TaskSnapshot()
        base_url = emu.anthropic_base_url if case.api == "anthropic" else emu.openrouter_base_url
        async with httpx.AsyncClient(transport=counter) as client:
            agent = Agent(
                make_provider(
                    case.api,
                    base_url,
                    client,
                    timeouts=TIMEOUTS if case.fault.startswith(("stall", "keepalive")) else PATIENT,
                ),
                model=MODELS[case.api],
                system_prompt="You report the weather.",
                tools=[make_tool(case.tool)],
            )
            log = MessageLog(agent)
            fault = injected(case, phases)
            if fault is not None:
                emu.inject(fault[0], times=fault[1], api=case.api)  # type: ignore[arg-type]

            outcome = await drive(agent, case.consumer)
            await agent.wait_for_idle()
            check_outcome(case, outcome, log)
            assert not await snapshot.leftovers(), "a task outlived the run"
            assert counter.open == 0, "an HTTP response was left open"
            # History intact: exactly the messages that had a MessageEnd, each once.
            assert list(agent.messages) == log.ended
            assert len({id(m) for m in agent.messages}) == len(agent.messages)
            check_protocol(log.events, complete=isinstance(outcome, RunResult))
            if isinstance(outcome, StreamClosedError):
                assert agent.state.error is None  # leaving is not a failure
            elif isinstance(outcome, BaseException):
                assert agent.state.error is outcome

            # Still usable: a clean prompt on the same agent.
            before = agent.messages
            log.unsubscribe()
            result = await agent.run("And tomorrow?")
            assert result.stop_reason is StopReason.STOP
            assert result.text == FINAL_TEXT
            assert agent.messages == before + result.messages
            assert agent.state.error is None
            check_requests_valid(emu)
        assert not await snapshot.leftovers()
        assert counter.opened > 0
        assert counter.open == 0
