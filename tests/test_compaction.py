"""ClearToolResults: the invariants of compaction, over generated conversations."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import (
    AssistantMessage,
    CacheBreakpoints,
    ClearToolResults,
    CompactionError,
    Context,
    Pipeline,
    TextContent,
    ToolCall,
    ToolResultMessage,
    TransformInfo,
    UserMessage,
)
from agentkit._messages import CacheControl, Message
from agentkit.testing.strategies import conversations, snapshot
from agentkit.transforms._compaction import PLACEHOLDER, estimate_tokens

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _info(max_tokens: int | None = None) -> TransformInfo:
    return TransformInfo("unknown-model", "emulator", max_tokens=max_tokens)


def _pairs(messages: tuple[Message, ...]) -> list[tuple[int, list[str], list[str]]]:
    """Each assistant message with tool calls: (index, call ids, ids of the results right after)."""
    found = []
    for i, message in enumerate(messages):
        if isinstance(message, AssistantMessage) and message.tool_calls:
            results = []
            for following in messages[i + 1 :]:
                if not isinstance(following, ToolResultMessage):
                    break
                results.append(following.tool_call_id)
            found.append((i, [c.id for c in message.tool_calls], results))
    return found


def _same_shape(before: tuple[Message, ...], after: tuple[Message, ...]) -> None:
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        assert type(old) is type(new)
        if isinstance(old, ToolResultMessage):
            assert isinstance(new, ToolResultMessage)
            assert (new.tool_call_id, new.tool_name) == (old.tool_call_id, old.tool_name)
            assert new.content == old.content or new.content[0].text == PLACEHOLDER  # type: ignore[union-attr]
        else:
            assert new == old


@st.composite
def cases(draw: st.DrawFn) -> tuple[Context, ClearToolResults]:
    messages = draw(conversations(max_turns=5, max_rounds=5))
    context = Context("You are terse.", messages)
    total = estimate_tokens(context)
    window = draw(st.integers(max(total // 4, 8), max(total * 2, 16)))
    target = draw(st.sampled_from([0.3, 0.5, 0.7]))
    threshold = draw(st.sampled_from([0.7, 0.8, 0.9, 1.0]))
    keep = draw(st.integers(0, 3))
    return context, ClearToolResults(threshold, min(target, threshold), keep, window)


@PROPS
@given(cases())
def test_pairs_and_batches_intact_and_under_threshold_or_typed_error(
    case: tuple[Context, ClearToolResults],
) -> None:
    context, compaction = case
    before = snapshot(context)
    trigger, _ = compaction.limits(_info())  # type: ignore[misc]
    try:
        out = compaction(context, _info())
    except CompactionError as error:
        assert error.tokens > trigger == error.threshold  # noqa: PT017
        assert snapshot(context) == before
        return
    assert snapshot(context) == before  # the input is never mutated
    assert estimate_tokens(out) <= trigger
    assert out.system == context.system and out.tools == context.tools
    _same_shape(context.messages, out.messages)
    assert _pairs(out.messages) == _pairs(context.messages)  # every call keeps its result
    # The cut falls between rounds: a batch is cleared whole or not at all, and
    # everything cleared comes before everything kept.
    clearable = {
        i
        for i, m in enumerate(context.messages)
        if isinstance(m, ToolResultMessage)
        and m.content
        and m.content != (TextContent(PLACEHOLDER, m.content[-1].cache_control),)
    }
    changed = {
        i for i, (a, b) in enumerate(zip(context.messages, out.messages, strict=True)) if a != b
    }
    assert changed <= clearable
    if changed:
        last = max(changed)
        assert {i for i in clearable if i < last} <= changed  # nothing kept before the cut
        for index, _, results in _pairs(context.messages):
            batch = set(range(index + 1, index + 1 + len(results))) & clearable
            assert batch <= changed or not batch & changed  # a batch whole, or not at all


@PROPS
@given(cases())
def test_idempotent(case: tuple[Context, ClearToolResults]) -> None:
    context, compaction = case
    try:
        once = compaction(context, _info())
    except CompactionError:
        return
    assert compaction(once, _info()) is once  # already under: returned unchanged


@PROPS
@given(conversations(max_turns=4, max_rounds=4))
def test_under_threshold_is_the_same_object(messages: tuple[Message, ...]) -> None:
    context = Context("sys", messages)
    roomy = ClearToolResults(context_window=estimate_tokens(context) * 2 + 10)
    assert roomy(context, _info()) is context


def _session(rounds: int, size: int = 400) -> tuple[Message, ...]:
    messages: list[Message] = [UserMessage([TextContent("go")])]
    for n in range(rounds):
        call = ToolCall(f"c{n}", "read", {"n": n})
        messages.append(AssistantMessage((TextContent("reading"), call)))
        messages.append(ToolResultMessage(call.id, "read", [TextContent("x" * size)]))
    return tuple(messages)


def test_cut_moves_in_large_infrequent_steps() -> None:
    """Growing the history one round at a time, the compacted prefix changes only rarely."""
    compaction = ClearToolResults(threshold=0.8, target=0.4, keep_recent=1, context_window=4000)
    cuts = []
    previous: Context | None = None
    changes = 0
    for rounds in range(1, 200):
        out = compaction(Context("sys", _session(rounds)), _info())
        cleared = sum(
            1
            for m in out.messages
            if isinstance(m, ToolResultMessage) and m.content[0].text == PLACEHOLDER  # type: ignore[union-attr]
        )
        cuts.append(cleared)
        if previous is not None:
            shared = len(previous.messages)
            if out.messages[:shared] != previous.messages:
                changes += 1
        previous = out
        assert estimate_tokens(out) <= 3200
    assert cuts == sorted(cuts)  # the cut only moves forward
    assert cuts[-1] > 150
    # ~100 tokens per round, 1600 tokens of room between target and threshold: a step
    # every ~16 rounds, not every round.
    assert 5 <= changes <= 199 // 10


def test_keeps_the_cache_marker_and_composes_with_cache_breakpoints() -> None:
    context = Context("sys " * 2000, _session(60, size=800))
    info = TransformInfo("claude-sonnet-4-5", "anthropic")
    pipeline = Pipeline((CacheBreakpoints(), ClearToolResults(context_window=20_000)))
    out = pipeline(context, info)
    assert estimate_tokens(out) <= 16_000
    marked = [
        b for m in out.messages if not isinstance(m, AssistantMessage) for b in m.content
    ] + list(out.system)
    assert any(getattr(b, "cache_control", None) is not None for b in marked)
    result = ToolResultMessage("c0", "read", [TextContent("big", CacheControl())])
    cleared = ClearToolResults(context_window=10)._cleared(result)
    assert cleared.content == (TextContent(PLACEHOLDER, CacheControl()),)  # type: ignore[union-attr]


def test_leaves_room_for_max_tokens() -> None:
    context = Context("sys", _session(40))
    compaction = ClearToolResults(context_window=6000)
    roomy = compaction(context, _info())
    tight = compaction(context, _info(max_tokens=3000))
    assert estimate_tokens(tight) <= 0.8 * 3000 < estimate_tokens(roomy)


def test_window_from_the_registry() -> None:
    compaction = ClearToolResults(threshold=0.5, target=0.25)
    info = TransformInfo("anthropic/claude-sonnet-4.5", "openrouter", max_tokens=0)
    assert compaction.limits(info) == (100_000, 50_000)
    assert compaction.limits(_info()) is None
    context = Context("sys", _session(10))
    assert compaction(context, _info()) is context  # unknown window: sent as it is


def test_cannot_get_under_raises_instead_of_looping() -> None:
    huge = Context("sys", (UserMessage([TextContent("y" * 40_000)]),))
    with pytest.raises(CompactionError) as caught:
        ClearToolResults(context_window=5000)(huge, _info())
    assert caught.value.tokens > caught.value.threshold == 4000
    recent = Context("sys", _session(3, size=20_000))
    with pytest.raises(CompactionError):
        ClearToolResults(keep_recent=3, context_window=10_000)(recent, _info())


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="target"):
        ClearToolResults(threshold=0.5, target=0.6)
    with pytest.raises(ValueError, match="threshold"):
        ClearToolResults(threshold=1.5)
    with pytest.raises(ValueError, match="keep_recent"):
        ClearToolResults(keep_recent=-1)
    with pytest.raises(TypeError):
        ClearToolResults(keep_recent=True)
    assert attrs.evolve(ClearToolResults(), keep_recent=0).keep_recent == 0
