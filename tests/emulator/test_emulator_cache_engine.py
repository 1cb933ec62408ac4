"""The pure cache engine: lookback, breakpoints, minimums, TTLs, mixed-TTL billing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit.testing.emulator._cache import (
    Breakpoint,
    CacheEntry,
    Position,
    apply_plan,
    plan_request,
)


def blocks(n: int, tokens: int = 100, tag: str = "b") -> list[Position]:
    return [Position(f"{tag}{i}", tokens) for i in range(n)]


def run(positions, breakpoints, store, now=0.0, *, min_tokens=0, lookback=20):
    plan = plan_request(
        positions, breakpoints, store, now, seed="m", min_tokens=min_tokens, lookback=lookback
    )
    return plan, apply_plan(store, plan, now)


def test_official_worked_example_10_15_35() -> None:
    # Anthropic's example (§1.3): 10 blocks, then 15, then 35 with a breakpoint at the end.
    store: dict[str, CacheEntry] = {}
    plan1, store = run(blocks(10), [Breakpoint(9)], store)
    assert (plan1.read_tokens, plan1.write_5m_tokens, plan1.written_positions) == (0, 1000, (9,))
    plan2, store = run(blocks(15), [Breakpoint(14)], store)
    assert plan2.hit_position == 9
    assert (plan2.read_tokens, plan2.write_5m_tokens, plan2.input_tokens) == (1000, 500, 0)
    plan3, _ = run(blocks(35), [Breakpoint(34)], store)
    assert plan3.hit_position is None, "the block-15 entry is one position outside the window"
    assert plan3.read_tokens == 0
    plan3b, _ = run(blocks(35), [Breakpoint(14), Breakpoint(34)], store)
    assert plan3b.hit_position == 14
    assert (plan3b.read_tokens, plan3b.write_5m_tokens) == (1500, 2000)


def test_lookback_counts_the_breakpoint_itself_as_first() -> None:
    _, store = run(blocks(10), [Breakpoint(9)], {})
    inside, _ = run(blocks(29), [Breakpoint(28)], store)  # checks 28..9
    outside, _ = run(blocks(30), [Breakpoint(29)], store)  # checks 29..10
    assert inside.hit_position == 9
    assert outside.hit_position is None


def test_lookup_resumes_from_the_next_earlier_breakpoint() -> None:
    _, store = run(blocks(10), [Breakpoint(9)], {})
    plan, _ = run(blocks(60), [Breakpoint(12), Breakpoint(59)], store)
    assert plan.hit_position == 9
    assert plan.read_tokens == 1000


def test_changed_block_before_breakpoint_misses_and_reads_earlier_write() -> None:
    _, store = run(blocks(10), [Breakpoint(4), Breakpoint(9)], {})
    changed = [*blocks(7), Position("changed", 100), *blocks(10)[8:]]
    plan, _ = run(changed, [Breakpoint(4), Breakpoint(9)], store)
    assert plan.hit_position == 4
    assert (plan.read_tokens, plan.write_5m_tokens) == (500, 500)


def test_no_write_without_breakpoint_and_no_stable_content_hit() -> None:
    # The common mistake: the breakpoint sits on a block that changes every request.
    store: dict[str, CacheEntry] = {}
    for turn in range(3):
        prompt = [*blocks(5), Position(f"timestamp {turn}", 100)]
        plan, store = run(prompt, [Breakpoint(5)], store)
        assert plan.read_tokens == 0
        assert plan.written_positions == (5,)


def test_below_minimum_neither_reads_nor_writes() -> None:
    plan, store = run(blocks(10), [Breakpoint(9)], {}, min_tokens=1024)
    assert plan.write_tokens == 0 and store == {}
    assert plan.input_tokens == 1000


def test_minimum_applies_per_breakpoint() -> None:
    plan, _ = run(blocks(30), [Breakpoint(4), Breakpoint(29)], {}, min_tokens=1024)
    assert plan.written_positions == (29,)
    assert plan.write_5m_tokens == 3000


def test_ttl_expiry_and_refresh_on_read() -> None:
    _, store = run(blocks(10), [Breakpoint(9)], {}, now=0.0)
    hit, store = run(blocks(10), [Breakpoint(9)], store, now=299.0)
    assert hit.read_tokens == 1000
    refreshed, store = run(blocks(10), [Breakpoint(9)], store, now=598.0)
    assert refreshed.read_tokens == 1000, "the read at 299 s extended the entry to 599 s"
    expired, _ = run(blocks(10), [Breakpoint(9)], store, now=898.1)
    assert expired.read_tokens == 0 and expired.write_5m_tokens == 1000


def test_one_hour_entry_outlives_five_minutes() -> None:
    _, store = run(blocks(10), [Breakpoint(9, "1h")], {})
    plan, _ = run(blocks(10), [Breakpoint(9, "1h")], store, now=3599.0)
    assert plan.read_tokens == 1000
    late, _ = run(blocks(10), [Breakpoint(9, "1h")], store, now=3600.5)
    assert late.read_tokens == 0 and late.write_1h_tokens == 1000


def test_mixed_ttl_billing_a_b_c() -> None:
    bps = [Breakpoint(2, "1h"), Breakpoint(5, "5m"), Breakpoint(8, "5m")]
    first, store = run(blocks(10), bps, {})
    # A = 0, B = 300 (1h bp), C = 900 (last bp)
    assert (first.read_tokens, first.write_1h_tokens, first.write_5m_tokens) == (0, 300, 600)
    assert first.input_tokens == 100
    store = {h: e for h, e in store.items() if e.position == 2}  # only the 1h entry survives
    second, _ = run(blocks(10), bps, store, now=400.0)
    assert (second.read_tokens, second.write_1h_tokens, second.write_5m_tokens) == (300, 0, 600)


def test_models_do_not_share_entries() -> None:
    plan = plan_request(blocks(10), [Breakpoint(9)], {}, 0.0, seed="a", min_tokens=0)
    store = apply_plan({}, plan, 0.0)
    other = plan_request(blocks(10), [Breakpoint(9)], store, 0.0, seed="b", min_tokens=0)
    assert other.read_tokens == 0


def test_implicit_mode_reads_longest_prefix_and_writes_free() -> None:
    first = plan_request(blocks(20), [], {}, 0.0, seed="m", min_tokens=1024, implicit=True)
    assert first.write_tokens == 0 and first.written_positions == (19,)
    store = apply_plan({}, first, 0.0)
    second = plan_request(blocks(45), [], store, 1.0, seed="m", min_tokens=1024, implicit=True)
    assert second.read_tokens == 2000 and second.input_tokens == 2500


def test_bad_breakpoint_index_is_rejected() -> None:
    with pytest.raises(ValueError, match="outside"):
        plan_request(blocks(3), [Breakpoint(3)], {}, 0.0, seed="m", min_tokens=0)


prompts = st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=40)


@st.composite
def prompt_and_breakpoints(draw: st.DrawFn) -> tuple[list[Position], list[Breakpoint]]:
    tokens = draw(prompts)
    # The same content always has the same size: the key carries the token count.
    positions = [Position(f"p{i}:{t}", t) for i, t in enumerate(tokens)]
    indexes = draw(st.lists(st.integers(0, len(tokens) - 1), max_size=4, unique=True))
    indexes.sort()
    n_1h = draw(st.integers(0, len(indexes)))
    bps = [Breakpoint(i, "1h" if k < n_1h else "5m") for k, i in enumerate(indexes)]
    return positions, bps


@settings(max_examples=60, deadline=None)
@given(
    first=prompt_and_breakpoints(),
    second=prompt_and_breakpoints(),
    minimum=st.sampled_from([0, 500, 2048]),
    gap=st.floats(0, 4000),
)
def test_tokens_partition_and_reads_stay_within_the_prefix(first, second, minimum, gap) -> None:
    plan1, store = run(*first, {}, min_tokens=minimum)
    plan2, _ = run(*second, store, now=gap, min_tokens=minimum)
    for plan, (positions, bps) in ((plan1, first), (plan2, second)):
        total = sum(p.tokens for p in positions)
        assert plan.total_tokens == total
        assert plan.input_tokens >= 0
        assert plan.input_tokens + plan.read_tokens + plan.write_tokens == total
        last = max((bp.index for bp in bps), default=None)
        limit = sum(p.tokens for p in positions[: last + 1]) if last is not None else 0
        assert plan.read_tokens + plan.write_tokens <= limit
        if plan.read_tokens:
            assert plan.read_tokens >= minimum


@settings(max_examples=60, deadline=None)
@given(
    case=prompt_and_breakpoints(), minimum=st.sampled_from([0, 500, 2048]), gap=st.floats(0, 299)
)
def test_identical_request_reads_everything_up_to_its_last_eligible_breakpoint(
    case, minimum, gap
) -> None:
    positions, bps = case
    _, store = run(positions, bps, {}, min_tokens=minimum)
    again, _ = run(positions, bps, store, now=gap, min_tokens=minimum)
    totals = [sum(p.tokens for p in positions[: i + 1]) for i in range(len(positions))]
    eligible = [bp for bp in bps if totals[bp.index] >= minimum]
    expected = totals[eligible[-1].index] if eligible else 0
    assert again.read_tokens == expected
    assert again.write_tokens == 0
