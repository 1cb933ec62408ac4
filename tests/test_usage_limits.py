"""Usage limits: checked before each request and tool batch, and after each answer."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import (
    Agent,
    AgentEnd,
    AgentEvent,
    AnthropicProvider,
    AssistantMessage,
    Context,
    ExceededLimit,
    LoopConfig,
    Message,
    ModelOptions,
    OpenRouterProvider,
    StopReason,
    ToolExecutionStart,
    ToolResultMessage,
    UnenforceableLimitError,
    Usage,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
    agent_loop,
    tool,
)
from agentkit._limits import estimate_request_tokens
from agentkit._loop import NOT_RUN_LIMIT, RunResult
from agentkit.testing import Reply, ScriptedProvider, call
from agentkit.testing.emulator import Emulator, ToolUse
from agentkit.testing.emulator import ModelReply as EmulatorReply
from tests.protocol import check_protocol

pytestmark = pytest.mark.anyio

PRICED = "claude-haiku-4.5"  # $1 in, $5 out per million tokens (agentkit._models)


class Counter:
    """A scripted provider that records every request it was asked."""

    def __init__(self, script: Sequence[Reply | str]) -> None:
        self.script = list(script)
        self.contexts: list[Context] = []
        self.provider = ScriptedProvider(self.answer)

    def answer(self, context: Context, options: ModelOptions) -> Reply | str:
        self.contexts.append(context)
        return self.script[len(self.contexts) - 1]

    @property
    def requests(self) -> int:
        return len(self.contexts)


ran: list[str] = []


@tool
def step(n: int) -> str:
    """Do one step of work."""
    ran.append(f"step{n}")
    return f"step {n} done"


def tool_reply(n: int, usage: Usage | None = None, calls: int = 1) -> Reply:
    return Reply(
        tool_calls=[call("step", n=n * 10 + i) for i in range(calls)],
        usage=usage or Usage(input=10, output=10),
    )


def config(
    counter: Counter,
    limits: UsageLimits | None,
    *,
    model: str = "scripted-model",
    max_tokens: int | None = None,
    **more: Any,
) -> LoopConfig:
    return LoopConfig(
        provider=counter.provider,
        options=ModelOptions(model=model, max_tokens=max_tokens),
        tools=[step],
        limits=limits,
        **more,
    )


async def run(
    cfg: LoopConfig, prompt: str | Sequence[Message] = "Work.", history: Sequence[Message] = ()
) -> tuple[list[AgentEvent], RunResult | BaseException]:
    """The run's events and its result, or the exception it failed with."""
    events: list[AgentEvent] = []
    outcome: RunResult | BaseException
    with anyio.fail_after(10):
        try:
            async with agent_loop(cfg, history, prompt) as stream:
                async for event in stream:
                    events.append(event)
                outcome = await stream.result()
        except Exception as exc:
            outcome = exc
    return events, outcome


def check_history(messages: Sequence[Message]) -> None:
    """Every tool call is answered exactly once, before the next answer."""
    open_calls: list[str] = []
    for message in messages:
        if isinstance(message, AssistantMessage):
            assert not open_calls, f"calls {open_calls} unanswered before the next answer"
            open_calls = [c.id for c in message.tool_calls]
        elif isinstance(message, ToolResultMessage):
            assert message.tool_call_id in open_calls, "a result answers an open call, once"
            open_calls.remove(message.tool_call_id)
        else:
            assert not open_calls, "a user message never splits a call from its result"
    assert not open_calls, f"calls {open_calls} left unanswered"


def stopped(outcome: RunResult | BaseException) -> RunResult:
    assert isinstance(outcome, RunResult), outcome
    assert outcome.stop_reason is StopReason.USAGE_LIMIT
    assert outcome.limit_exceeded is not None
    return outcome


def failed(events: list[AgentEvent], outcome: RunResult | BaseException) -> UsageLimitExceeded:
    assert isinstance(outcome, UsageLimitExceeded), outcome
    check_protocol(events, complete=False)
    return outcome


@pytest.fixture(autouse=True)
def _forget_ran() -> None:
    ran.clear()


# ---------------------------------------------------------------------- values


def test_limits_are_validated_naming_the_field() -> None:
    with pytest.raises(ValueError, match="requests"):
        UsageLimits(requests=-1)
    with pytest.raises(TypeError, match="input_tokens"):
        UsageLimits(input_tokens=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tool_calls"):
        UsageLimits(tool_calls=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cost_usd"):
        UsageLimits(cost_usd="1")  # type: ignore[arg-type]
    for bad in (math.nan, math.inf, -0.01):
        with pytest.raises(ValueError, match="seconds"):
            UsageLimits(seconds=bad)
    with pytest.raises(ValueError, match="on_exceed"):
        UsageLimits(on_exceed="warn")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="limits"):
        LoopConfig(
            provider=ScriptedProvider([]),
            options=ModelOptions(model="m"),
            limits={"requests": 1},  # type: ignore[arg-type]
        )
    assert UsageLimits(requests=0, cost_usd=0).cost_usd == 0


# ---------------------------------------------------------------------- each limit


@pytest.mark.parametrize("on_exceed", ["stop", "raise"])
async def test_requests_limit_stops_before_the_next_request(on_exceed: str) -> None:
    counter = Counter([tool_reply(n) for n in range(5)])
    limits = UsageLimits(requests=2, on_exceed=on_exceed)  # type: ignore[arg-type]
    events, outcome = await run(config(counter, limits))
    assert counter.requests == 2
    assert ran == ["step0", "step10"], "both answered calls ran"
    expected = ExceededLimit("requests", 2, 2, 3)
    if on_exceed == "stop":
        result = stopped(outcome)
        check_protocol(events, complete=True)
        assert result.limit_exceeded == expected
        messages = result.messages
        assert isinstance(events[-1], AgentEnd)
        assert events[-1].stop_reason is StopReason.USAGE_LIMIT
    else:
        error = failed(events, outcome)
        assert (error.limit, error.allowed, error.spent, error.projected) == (
            "requests",
            2,
            2,
            3,
        )
        assert error.exceeded == expected
        assert "requests" in str(error)
        messages = error.messages
        assert error.usage == Usage(input=20, output=20)
    assert [m.role for m in messages] == ["user", *["assistant", "tool_result"] * 2]
    check_history(messages)


async def test_stop_and_raise_emit_the_same_events_but_the_end() -> None:
    outcomes = {}
    for mode in ("stop", "raise"):
        counter = Counter([tool_reply(n, calls=2) for n in range(5)])
        limits = UsageLimits(tool_calls=3, on_exceed=mode)  # type: ignore[arg-type]
        cfg = config(counter, limits, tool_execution="sequential", new_id=lambda: "run-1")
        events, outcome = await run(cfg)
        outcomes[mode] = (events, outcome)
    stop_events, result = outcomes["stop"]
    raise_events, error = outcomes["raise"]
    assert isinstance(result, RunResult)
    assert isinstance(error, UsageLimitExceeded)
    assert stop_events[:-1] == raise_events
    assert isinstance(stop_events[-1], AgentEnd)
    assert result.messages == error.messages
    assert result.usage == error.usage
    assert result.limit_exceeded == error.exceeded


async def test_input_tokens_are_checked_against_the_prompt_estimate_before_any_request() -> None:
    counter = Counter(["never sent"])
    limits = UsageLimits(input_tokens=500, on_exceed="stop")
    _, outcome = await run(config(counter, limits), prompt="x" * 4000)
    result = stopped(outcome)
    assert counter.requests == 0
    exceeded = result.limit_exceeded
    assert exceeded is not None
    assert (exceeded.limit, exceeded.spent) == ("input_tokens", 0)
    assert exceeded.projected is not None and exceeded.projected >= 1000
    assert [m.role for m in result.messages] == ["user"], "the prompt joined the history"


async def test_input_tokens_count_cache_reads_and_writes_after_the_answer() -> None:
    usage = Usage(input=100, cache_read=300, cache_write=200)  # 600 prompt tokens
    counter = Counter([tool_reply(0, usage), "never sent"])
    _, outcome = await run(config(counter, UsageLimits(input_tokens=500)))
    assert isinstance(outcome, UsageLimitExceeded)
    assert (outcome.limit, outcome.allowed, outcome.spent, outcome.projected) == (
        "input_tokens",
        500,
        600,
        None,
    )
    assert counter.requests == 1
    assert ran == [], "the call of an answer that crossed a limit does not run"
    results = [m for m in outcome.messages if isinstance(m, ToolResultMessage)]
    assert [r.content[0].text for r in results] == [NOT_RUN_LIMIT.format("input_tokens")]  # type: ignore[union-attr]
    assert results[0].is_error
    check_history(outcome.messages)


async def test_output_tokens_reserve_max_tokens_per_request() -> None:
    # Each answer uses all of max_tokens: 100, 200, then a third could reach 300 > 250.
    counter = Counter([tool_reply(n, Usage(input=5, output=100)) for n in range(5)])
    limits = UsageLimits(output_tokens=250, on_exceed="stop")
    _, outcome = await run(config(counter, limits, max_tokens=100))
    result = stopped(outcome)
    assert counter.requests == 2
    assert result.limit_exceeded == ExceededLimit("output_tokens", 250, 200, 300)
    assert result.usage.output == 200


async def test_output_tokens_exactly_reachable_are_allowed() -> None:
    counter = Counter([tool_reply(0, Usage(output=100)), Reply("done", usage=Usage(output=100))])
    limits = UsageLimits(output_tokens=200, on_exceed="stop")
    _, outcome = await run(config(counter, limits, max_tokens=100))
    assert isinstance(outcome, RunResult)
    assert outcome.stop_reason is StopReason.STOP
    assert outcome.limit_exceeded is None
    assert counter.requests == 2


async def test_total_tokens_add_the_prompt_estimate_and_max_tokens() -> None:
    counter = Counter([tool_reply(n, Usage(input=400, output=50)) for n in range(5)])
    limits = UsageLimits(total_tokens=960, on_exceed="stop")
    _, outcome = await run(config(counter, limits, max_tokens=50))
    result = stopped(outcome)
    exceeded = result.limit_exceeded
    assert exceeded is not None
    assert exceeded.limit == "total_tokens"
    # 450 then 900 spent; the third request could add max_tokens plus its prompt (the
    # tool schema alone is more than ten tokens), so it is not sent.
    assert counter.requests == 2
    assert exceeded.spent == 900
    assert exceeded.projected is not None
    assert exceeded.projected > 900 + 50 + 10


async def test_cache_write_tokens_after_the_answer() -> None:
    counter = Counter([tool_reply(0, Usage(input=1, cache_write=3000)), "never sent"])
    limits = UsageLimits(cache_write_tokens=2000, on_exceed="stop")
    _, outcome = await run(config(counter, limits))
    result = stopped(outcome)
    assert result.limit_exceeded == ExceededLimit("cache_write_tokens", 2000, 3000)
    assert counter.requests == 1
    check_history(result.messages)


async def test_cost_stops_before_the_request_that_could_cross_it() -> None:
    # Worst case of one request: about 10 prompt tokens at $2/M plus 1000 at $5/M, ~$0.005.
    counter = Counter([tool_reply(n, Usage(input=10, output=10, cost=0.004)) for n in range(5)])
    limits = UsageLimits(cost_usd=0.012)
    _, outcome = await run(config(counter, limits, model=PRICED, max_tokens=1000))
    assert isinstance(outcome, UsageLimitExceeded)
    assert counter.requests == 2
    assert outcome.limit == "cost_usd"
    assert outcome.spent == pytest.approx(0.008)
    assert outcome.projected is not None
    assert 0.012 < outcome.projected < 0.0135
    assert "cost_usd" in str(outcome) and "0.008" in str(outcome)


async def test_an_unknown_cost_is_counted_at_the_limit_prices_not_as_zero() -> None:
    # A partial answer (cost None) still spent its tokens: 4000 input at $1/M = $0.004 each.
    counter = Counter(
        [tool_reply(n, Usage(input=4000, output=0, cost=None, partial=True)) for n in range(5)]
    )
    limits = UsageLimits(cost_usd=0.006)
    _, outcome = await run(config(counter, limits, model=PRICED, max_tokens=10))
    assert isinstance(outcome, UsageLimitExceeded)
    assert outcome.limit == "cost_usd"
    assert outcome.spent == pytest.approx(0.008)  # two answers' tokens, after the second
    assert outcome.projected is None
    assert counter.requests == 2


async def test_the_cost_reservation_prices_every_prompt_token_as_a_one_hour_cache_write() -> None:
    prompt = "x" * 40_000
    tokens = estimate_request_tokens(Context((), (UserMessage(prompt),), (step.definition,)))
    assert 10_000 <= tokens < 10_100
    worst = (tokens * 2.0 + 10 * 5.0) / 1_000_000  # $1/M in, 1-hour writes at 2x, $5/M out
    counter = Counter(["never sent"])
    limits = UsageLimits(cost_usd=worst * 0.99, on_exceed="stop")
    _, outcome = await run(config(counter, limits, model=PRICED, max_tokens=10), prompt=prompt)
    result = stopped(outcome)
    assert result.limit_exceeded is not None
    assert result.limit_exceeded.projected == pytest.approx(worst)
    assert counter.requests == 0
    # With exactly the worst case allowed, the request goes out.
    counter = Counter([Reply("ok", usage=Usage(input=tokens, output=10, cost=0.001))])
    limits = UsageLimits(cost_usd=worst * 1.01, on_exceed="stop")
    _, outcome = await run(config(counter, limits, model=PRICED, max_tokens=10), prompt=prompt)
    assert isinstance(outcome, RunResult)
    assert outcome.stop_reason is StopReason.STOP
    assert counter.requests == 1


async def test_tool_calls_beyond_the_limit_get_an_error_result_and_the_run_stops() -> None:
    counter = Counter([tool_reply(1, calls=3), "never sent"])
    limits = UsageLimits(tool_calls=2, on_exceed="stop")
    events, outcome = await run(config(counter, limits))
    result = stopped(outcome)
    check_protocol(events, complete=True)
    assert sorted(ran) == ["step10", "step11"]
    started = [e.call.arguments["n"] for e in events if isinstance(e, ToolExecutionStart)]
    assert started == [10, 11]
    assert result.limit_exceeded == ExceededLimit("tool_calls", 2, 0, 3)
    results = [m for m in result.messages if isinstance(m, ToolResultMessage)]
    assert [r.is_error for r in results] == [False, False, True]
    assert results[2].content[0].text == NOT_RUN_LIMIT.format("tool_calls")  # type: ignore[union-attr]
    assert counter.requests == 1
    check_history(result.messages)


async def test_tool_calls_limit_counts_across_turns() -> None:
    counter = Counter([tool_reply(1, calls=2), tool_reply(2, calls=2), "never sent"])
    _, outcome = await run(config(counter, UsageLimits(tool_calls=3)))
    assert isinstance(outcome, UsageLimitExceeded)
    assert (outcome.spent, outcome.projected) == (2, 4)
    assert sorted(ran) == ["step10", "step11", "step20"]
    check_history(outcome.messages)


async def test_seconds_are_measured_with_the_loop_clock() -> None:
    now = [100.0]

    @tool
    def slow() -> str:
        """Take eleven seconds of the fake clock."""
        now[0] += 11
        return "slow done"

    counter = Counter([Reply(tool_calls=[call("slow")]), "never sent"])
    cfg = LoopConfig(
        provider=counter.provider,
        options=ModelOptions(model="scripted-model"),
        tools=[slow],
        limits=UsageLimits(seconds=10, on_exceed="stop"),
        clock=lambda: now[0],
    )
    _, outcome = await run(cfg)
    result = stopped(outcome)
    assert result.limit_exceeded is not None
    assert (result.limit_exceeded.limit, result.limit_exceeded.spent) == ("seconds", 11)
    assert counter.requests == 1


# ---------------------------------------------------------------------- start of run


@pytest.mark.parametrize("limit", ["output_tokens", "total_tokens", "cost_usd"])
async def test_a_limit_needing_max_tokens_without_it_fails_before_any_request(limit: str) -> None:
    counter = Counter(["never sent"])
    limits = UsageLimits(**{limit: 1000})
    events, outcome = await run(config(counter, limits, model=PRICED))
    assert isinstance(outcome, UnenforceableLimitError)
    assert outcome.limit == limit
    assert "max_tokens" in str(outcome)
    assert counter.requests == 0
    assert events == []


async def test_a_cost_limit_with_an_unknown_price_fails_before_any_request() -> None:
    counter = Counter(["never sent"])
    limits = UsageLimits(cost_usd=1.0, on_exceed="stop")
    events, outcome = await run(config(counter, limits, model="mystery-model", max_tokens=10))
    assert isinstance(outcome, UnenforceableLimitError)
    assert outcome.limit == "cost_usd"
    assert "mystery-model" in str(outcome)
    assert counter.requests == 0
    assert events == []
    # A model whose price is listed as unknown is refused the same way.
    _, outcome = await run(config(counter, limits, model="claude-opus-5", max_tokens=10))
    assert isinstance(outcome, UnenforceableLimitError)


# ---------------------------------------------------------------------- Agent


class Worker(Agent):
    model = PRICED
    max_tokens = 100
    limits = UsageLimits(requests=1)

    @tool
    def work(self, n: int) -> str:
        """Do some work."""
        ran.append(f"work{n}")
        return "worked"


async def test_agent_limits_class_default_and_per_run_override() -> None:
    script = [Reply(tool_calls=[call("work", n=n)]) for n in range(6)]
    counter = Counter(script)
    agent = Worker(provider=counter.provider)
    with anyio.fail_after(10):
        with pytest.raises(UsageLimitExceeded) as caught:
            await agent.run("Go.")
        assert counter.requests == 1
        assert agent.state.error is caught.value
        assert list(agent.messages) == list(caught.value.messages)
        check_history(agent.messages)
        # Per run: replaces the class default.
        result = await agent.run("More.", limits=UsageLimits(requests=2, on_exceed="stop"))
        assert result.stop_reason is StopReason.USAGE_LIMIT
        assert counter.requests == 3
        # Per instance.
        other = Worker(provider=counter.provider, limits=UsageLimits(tool_calls=0))
        with pytest.raises(UsageLimitExceeded) as caught:
            await other.run("Once more.")
        assert caught.value.limit == "tool_calls"
    assert sorted(ran) == ["work0", "work1", "work2"]
    check_history(agent.messages)
    check_history(other.messages)


async def test_agent_start_error_leaves_the_history_alone() -> None:
    counter = Counter(["never sent"])
    agent = Worker(provider=counter.provider, max_tokens=None, limits=UsageLimits(cost_usd=1))
    with anyio.fail_after(10):
        with pytest.raises(UnenforceableLimitError):
            await agent.run("Go.")
        with pytest.raises(TypeError, match="limits"):
            Worker(provider=counter.provider, limits=3)
        with pytest.raises(UnenforceableLimitError):
            async with agent.prompt("Go.", limits=UsageLimits(output_tokens=5)) as stream:
                await stream.result()
    assert agent.messages == ()
    assert counter.requests == 0


# ---------------------------------------------------------------------- property

MAX_TOKENS = 50

usages = st.builds(
    Usage,
    input=st.integers(0, 400),
    output=st.integers(0, MAX_TOKENS),  # a service never answers past max_tokens
    cache_read=st.integers(0, 400),
    cache_write=st.integers(0, 400),
    cost=st.floats(0, 0.01),
)
scripts = st.lists(
    st.tuples(usages, st.integers(1, 3)),  # the answer's usage and its number of calls
    min_size=1,
    max_size=8,
)
limit_sets = st.builds(
    UsageLimits,
    requests=st.none() | st.integers(0, 8),
    input_tokens=st.none() | st.integers(0, 3000),
    output_tokens=st.none() | st.integers(0, 400),
    total_tokens=st.none() | st.integers(0, 4000),
    cache_write_tokens=st.none() | st.integers(0, 3000),
    cost_usd=st.none() | st.floats(0, 0.05),
    tool_calls=st.none() | st.integers(0, 12),
    on_exceed=st.sampled_from(["raise", "stop"]),
)

SPENT: dict[str, Callable[[Usage], float]] = {
    "input_tokens": lambda u: u.prompt,
    "output_tokens": lambda u: u.output,
    "total_tokens": lambda u: u.total,
    "cache_write_tokens": lambda u: u.cache_write,
    "cost_usd": lambda u: u.cost,
}


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=scripts, limits=limit_sets)
async def test_spend_never_passes_a_limit_by_more_than_one_request(
    script: list[tuple[Usage, int]], limits: UsageLimits
) -> None:
    ran.clear()
    replies: list[Reply | str] = [
        Reply(tool_calls=[call("step", n=n * 10 + i) for i in range(calls)], usage=usage)
        for n, (usage, calls) in enumerate(script)
    ]
    replies.append(Reply("done", usage=Usage()))
    counter = Counter(replies)
    events, outcome = await run(config(counter, limits, model=PRICED, max_tokens=MAX_TOKENS))
    if isinstance(outcome, UsageLimitExceeded):
        assert limits.on_exceed == "raise"
        check_protocol(events, complete=False)
        messages, usage, exceeded = outcome.messages, outcome.usage, outcome.exceeded
        assert usage is not None
    else:
        assert isinstance(outcome, RunResult), outcome
        check_protocol(events, complete=True)
        messages, usage, exceeded = outcome.messages, outcome.usage, outcome.limit_exceeded
        assert (outcome.stop_reason is StopReason.USAGE_LIMIT) == (exceeded is not None)
    check_history(messages)
    answers = [m for m in messages if isinstance(m, AssistantMessage)]
    assert len(answers) == counter.requests
    assert usage == sum((a.usage for a in answers), start=Usage())
    before_last = sum((a.usage for a in answers[:-1]), start=Usage())
    # Bounded exactly by the reservation: requests, output tokens and tool calls.
    if limits.requests is not None:
        assert counter.requests <= limits.requests
    if limits.output_tokens is not None:
        assert usage.output <= limits.output_tokens
    if limits.tool_calls is not None:
        assert len(ran) <= limits.tool_calls
    # The others: whatever was spent before the last request was within the limit.
    for name, spent in SPENT.items():
        allowed = getattr(limits, name)
        if allowed is not None:
            assert spent(before_last) <= allowed + 1e-12, name
    # A stop names a limit that really was (or would have been) crossed.
    if exceeded is not None:
        allowed = getattr(limits, exceeded.limit)
        if exceeded.projected is None:
            assert exceeded.spent > allowed
            assert exceeded.spent == SPENT[exceeded.limit](usage)
        else:
            assert exceeded.projected > allowed >= exceeded.spent
    else:
        assert answers[-1].text == "done", "without a stop, the script ran to its end"
        assert len(answers) == len(replies)
    ran.clear()


# ---------------------------------------------------------------------- history


async def test_a_run_stopped_by_a_limit_leaves_a_history_that_continues() -> None:
    counter = Counter([tool_reply(0), tool_reply(1), Reply("finished")])
    agent_cfg = config(counter, UsageLimits(requests=1, on_exceed="stop"))
    _, outcome = await run(agent_cfg)
    result = stopped(outcome)
    history = list(result.messages)
    _, again = await run(config(counter, None), prompt="Go on.", history=history)
    assert isinstance(again, RunResult)
    assert again.text == "finished"
    check_history([*history, *again.messages])


# ---------------------------------------------------------------------- end to end

API_KEY = "sk-limits-e2e-key"
HAIKU = {"anthropic": "claude-3-5-haiku-20241022", "openrouter": "anthropic/claude-3.5-haiku"}
SYSTEM = ("Review code for correctness, clarity and tests; cite the line you mean. " * 140)[:9600]


class Reviewer(Agent):
    max_tokens = 200

    @tool
    def read_file(self, path: str) -> str:
        """Read a file of the repository."""
        return f"contents of {path}: " + "x = 1\n" * 20


def long_session(steps: int) -> list[EmulatorReply]:
    replies = [
        EmulatorReply(text=f"Step {n}.", tool_calls=[ToolUse("read_file", {"path": f"m{n}.py"})])
        for n in range(steps - 1)
    ]
    return [*replies, EmulatorReply(text="Done: the patch is fine.")]


def emulated_provider(api: str, emulator: Emulator) -> AnthropicProvider | OpenRouterProvider:
    if api == "anthropic":
        return AnthropicProvider(api_key=API_KEY, base_url=emulator.anthropic_base_url)
    return OpenRouterProvider(api_key=API_KEY, base_url=emulator.openrouter_base_url)


async def emulated_run(
    api: str, steps: int, limits: UsageLimits | None
) -> tuple[Reviewer, int, RunResult | UsageLimitExceeded]:
    async with Emulator(script=long_session(steps)) as emulator:
        provider = emulated_provider(api, emulator)
        async with provider:
            agent = Reviewer(provider=provider, model=HAIKU[api], system_prompt=SYSTEM)
            outcome: RunResult | UsageLimitExceeded
            try:
                outcome = await agent.run("Review the whole module.", limits=limits)
            except UsageLimitExceeded as exc:
                outcome = exc
        return agent, len(emulator.requests), outcome


@pytest.mark.parametrize("api", ["anthropic", "openrouter"])
async def test_a_cost_limit_stops_a_long_tool_session_before_the_request_that_would_cross_it(
    api: str,
) -> None:
    steps = 30
    with anyio.fail_after(60):
        reference, sent, unlimited = await run_reference(api, steps)
        assert isinstance(unlimited, RunResult)
        assert sent == steps
        answers = [m for m in reference.messages if isinstance(m, AssistantMessage)]
        cumulative = list(itertools.accumulate(a.usage.cost for a in answers))
        assert all(c > 0 for c in cumulative)
        limit = cumulative[19]  # what the first 20 requests really cost
        agent, sent, outcome = await emulated_run(api, steps, UsageLimits(cost_usd=limit))
    assert isinstance(outcome, UsageLimitExceeded)
    assert outcome.limit == "cost_usd"
    assert outcome.allowed == limit
    made = [m for m in agent.messages if isinstance(m, AssistantMessage)]
    assert sent == len(made), "no request went out after the check said no"
    assert 1 <= sent < 20, "the worst case of the next request is reserved"
    spent = sum(m.usage.cost for m in made)
    assert outcome.spent == pytest.approx(spent)
    assert outcome.spent == pytest.approx(cumulative[sent - 1])
    assert outcome.spent <= limit, "the limit was never crossed"
    assert outcome.projected is not None
    # The reservation covered what the next request really cost.
    assert outcome.spent + (cumulative[sent] - cumulative[sent - 1]) <= outcome.projected
    assert outcome.projected > limit
    assert f"{outcome.spent:g}" in str(outcome) and f"{limit:g}" in str(outcome)
    assert list(agent.messages) == list(outcome.messages)
    check_history(agent.messages)
    assert agent.state.error is outcome
    for channel in (str(outcome), repr(outcome), repr(outcome.exceeded), repr(agent)):
        assert API_KEY not in channel


async def run_reference(
    api: str, steps: int
) -> tuple[Reviewer, int, RunResult | UsageLimitExceeded]:
    return await emulated_run(api, steps, None)
