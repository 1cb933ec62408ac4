"""Transforms and the pipeline that composes them."""

from __future__ import annotations

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agentkit._messages import Context, TextContent, UserMessage
from agentkit.testing.strategies import contexts, markers, snapshot
from agentkit.transforms._caching import MAX_BREAKPOINTS, cache_breakpoints, count_breakpoints
from agentkit.transforms._pipeline import Pipeline, Transform, TransformInfo

PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def info(run: str = "run") -> TransformInfo:
    return TransformInfo(model="claude-sonnet-4-5", provider="anthropic", run_id=run, turn=3)


def add_system(text: str) -> Transform:
    def transform(context: Context, _: TransformInfo) -> Context:
        return context.evolve(system=(*context.system, TextContent(text)))

    return transform


def remind(context: Context, _: TransformInfo) -> Context:
    """A per-request reminder appended to the newest user message; never stored in history."""
    if not context.messages or not isinstance(context.messages[-1], UserMessage):
        return context
    last = context.messages[-1]
    reminder = attrs.evolve(
        last, content=(*last.content, TextContent("<reminder>be brief</reminder>"))
    )
    return context.evolve(messages=(*context.messages[:-1], reminder))


def test_transforms_run_in_order_each_seeing_the_previous_output() -> None:
    pipeline = Pipeline((add_system("a"), add_system("b"))).then(add_system("c"))
    out = pipeline(Context("s"), info())
    assert out.system_text == "sabc"


def test_then_returns_a_new_pipeline() -> None:
    first = Pipeline((add_system("a"),))
    second = first.then(add_system("b"))
    assert len(first.transforms) == 1
    assert len(second.transforms) == 2
    assert Pipeline((first, second))(Context(""), info()).system_text == "aab"


def test_an_empty_pipeline_returns_its_input() -> None:
    context = Context("s", (UserMessage("hi"),))
    assert Pipeline()(context, info()) is context


def test_once_answers_true_only_the_first_time_per_info() -> None:
    shared = info()
    assert shared.once("k")
    assert not shared.once("k")
    assert shared.once("other")
    assert info().once("k"), "a new run starts afresh"


def test_log_is_bound_to_the_request() -> None:
    with capture_logs() as logs:
        info("r1").log.warning("something.happened", detail=1)
    assert logs == [
        {
            "event": "something.happened",
            "detail": 1,
            "run_id": "r1",
            "turn": 3,
            "model": "claude-sonnet-4-5",
            "provider": "anthropic",
            "log_level": "warning",
        }
    ]


@PROPERTY
@given(contexts())
def test_a_pipeline_of_pure_transforms_leaves_its_input_alone(context: Context) -> None:
    before = snapshot(context)
    pipeline = Pipeline((cache_breakpoints, remind, add_system("z")))
    pipeline(context, info())
    assert snapshot(context) == before
    assert Pipeline((cache_breakpoints,))(context, info()) == cache_breakpoints(context, info())


@PROPERTY
@given(contexts(max_caller_markers=0))
def test_caching_first_keeps_a_per_request_reminder_after_the_tail(context: Context) -> None:
    out = Pipeline((cache_breakpoints, remind))(context, info())
    assert count_breakpoints(out) <= MAX_BREAKPOINTS
    if context.messages and isinstance(context.messages[-1], UserMessage):
        reminder = (2, len(out.messages) - 1, len(out.messages[-1].content) - 1)
        assert reminder not in markers(out), "the volatile reminder must not be a breakpoint"
    # The markers are exactly where caching alone puts them: on the history, which the
    # next request repeats, so the next request can read what this one writes.
    assert markers(out) == markers(cache_breakpoints(context, info()))


@PROPERTY
@given(contexts(), st.integers(1, 3))
def test_running_the_caching_transform_again_changes_nothing(context: Context, times: int) -> None:
    once = cache_breakpoints(context, info())
    again = Pipeline((cache_breakpoints,) * times)(once, info())
    assert again is once


def test_once_answers_true_once_per_run_and_seen_does_not_consume() -> None:
    from agentkit import TransformInfo

    info = TransformInfo("claude-sonnet-4-5", "anthropic", "run-1", 1)
    assert not info.seen("warning")
    assert info.once("warning")
    assert info.seen("warning")
    assert not info.once("warning")
    fresh_run = TransformInfo("claude-sonnet-4-5", "anthropic", "run-2", 1)
    assert fresh_run.once("warning")
