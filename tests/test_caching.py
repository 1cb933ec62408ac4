"""The caching transform: properties over generated conversations, and worked cases."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from agentkit._json import canonical_json
from agentkit._messages import (
    AssistantMessage,
    CacheControl,
    Context,
    ImageContent,
    Message,
    StopReason,
    TextContent,
    ThinkingContent,
    ToolCall,
    ToolDefinition,
    ToolResultMessage,
    UserMessage,
)
from agentkit._models import registered_models
from agentkit.testing.strategies import (
    block_at,
    contexts,
    grown,
    is_blank,
    markers,
    place_markers,
    snapshot,
    strip_markers,
)
from agentkit.transforms._caching import (
    ASSUMED_MIN_CACHEABLE_TOKENS,
    MARKER_APIS,
    MAX_BREAKPOINTS,
    CacheBreakpoints,
    CacheMarkerError,
    cache_breakpoints,
    count_breakpoints,
)
from agentkit.transforms._pipeline import TransformInfo

SONNET = ("claude-sonnet-4-5", "anthropic")
INFOS = [
    SONNET,
    ("anthropic/claude-sonnet-4.5", "openrouter"),
    ("claude-haiku-4-5-20251001", "anthropic"),
]
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def info_for(model: str = SONNET[0], provider: str = SONNET[1], run: str = "run") -> TransformInfo:
    return TransformInfo(model=model, provider=provider, run_id=run)


configs = st.builds(
    CacheBreakpoints,
    mode=st.sampled_from(["5m", "1h"]),
    volatile_system_blocks=st.integers(0, 2),
)


def ttl_order_valid(context: Context) -> bool:
    ttls = [ttl for _, ttl in sorted(markers(context).items())]
    return "1h" not in ttls[ttls.index("5m") :] if "5m" in ttls else True


def last_markable(context: Context, end: int, text_only: bool) -> tuple[int, int, int] | None:
    """Independent statement of "the last markable block" of ``messages[:end]``."""
    for m in range(end - 1, -1, -1):
        message = context.messages[m]
        content = message.content
        for b in range(len(content) - 1, -1, -1):
            block = content[b]
            if isinstance(block, TextContent) and not is_blank(block.text):
                return (2, m, b)
            if isinstance(block, ImageContent | ToolCall) and not text_only:
                return (2, m, b)
    return None


# --------------------------------------------------------------------------- properties


@PROPERTY
@given(contexts(), configs, st.sampled_from(INFOS))
def test_transform_invariants(context: Context, config: CacheBreakpoints, which: Any) -> None:
    info = info_for(*which)
    text_only = which[1] != "anthropic"
    before = snapshot(context)
    after = config(context, info)

    assert snapshot(context) == before, "the input was mutated"
    assert count_breakpoints(after) <= MAX_BREAKPOINTS
    assert strip_markers(after) == strip_markers(context), "something besides markers changed"
    old, new = markers(context), markers(after)
    assert old.items() <= new.items(), "a caller marker was changed or dropped"
    assert ttl_order_valid(after)
    for site in new.keys() - old.keys():
        block = block_at(after, site)
        assert not isinstance(block, ThinkingContent)
        if isinstance(block, TextContent):
            assert not is_blank(block.text)
        if site[0] == 2:
            message = after.messages[site[1]]
            if isinstance(message, ToolResultMessage):
                # Its last markable block: a blank text or image after it does not move it.
                assert last_markable(context.evolve(messages=(message,)), 1, text_only) == (
                    2,
                    0,
                    site[2],
                )
            if text_only:
                assert isinstance(block, TextContent)
        if site[0] == 0:
            assert site[1] == len(after.tools) - 1
    touched = {site[1] for site in new.keys() - old.keys() if site[0] == 2}
    for m, message in enumerate(after.messages):
        if m not in touched:
            assert message is context.messages[m], "an unchanged message was copied"
    if not any(site[0] == 0 for site in new.keys() - old.keys()):
        assert after.tools is context.tools

    assert config(after, info) is after, "applying twice differs from applying once"


@PROPERTY
@given(contexts(max_caller_markers=0), configs, st.sampled_from(INFOS))
def test_without_caller_markers_the_tails_and_stable_prefix_are_marked(
    context: Context, config: CacheBreakpoints, which: Any
) -> None:
    after = config(context, info_for(*which))
    text_only = which[1] != "anthropic"
    tail = last_markable(context, len(context.messages), text_only)
    if tail is not None:
        assert tail in markers(after)
    newest = [m for m, msg in enumerate(context.messages) if isinstance(msg, AssistantMessage)]
    if newest:
        previous = last_markable(context, newest[-1], text_only)
        if previous is not None:
            assert previous in markers(after)
    if context.tools and which[1] == "anthropic":
        assert (0, len(context.tools) - 1, 0) in markers(after)
    elif context.tools:  # the OpenAI format has no marker on a tool: none is placed
        assert not any(site[0] == 0 for site in markers(after))
    stable = len(context.system) - config.volatile_system_blocks
    wanted = [i for i in range(stable) if not is_blank(context.system[i].text)]
    if wanted:
        site = (1, wanted[-1], 0)
        assert site in markers(after)
        assert markers(after)[site] == config.mode
    assert all(ttl == "5m" for site, ttl in markers(after).items() if site[0] == 2), (
        "message markers are always 5m without caller markers"
    )


@PROPERTY
@given(st.data(), configs, st.sampled_from(INFOS))
def test_growing_by_one_request_keeps_the_previous_tail_marked(
    data: st.DataObject, config: CacheBreakpoints, which: Any
) -> None:
    old = data.draw(contexts(max_caller_markers=2))
    new = data.draw(grown(old))
    info = info_for(*which)
    old_out, new_out = config(old, info), config(new, info)
    text_only = which[1] != "anthropic"
    old_tail = last_markable(old, len(old.messages), text_only)
    if old_tail is None or old_tail not in markers(old_out):
        return
    assert old_tail in markers(new_out), "the previous request's tail is not read"
    # Anthropic's prefix hash ignores the markers themselves (see docs/concepts/caching.md).
    _, m, b = old_tail
    old_prefix = strip_markers(old_out)
    new_prefix = strip_markers(new_out)
    cut_old = (*old_prefix.messages[:m], _head(old_prefix.messages[m], b))
    cut_new = (*new_prefix.messages[:m], _head(new_prefix.messages[m], b))
    assert snapshot(old_prefix.evolve(messages=cut_old)) == snapshot(
        new_prefix.evolve(messages=cut_new)
    )
    if not markers(old):
        stable = Context(old_out.system, (), old_out.tools)
        assert snapshot(stable) == snapshot(Context(new_out.system, (), new_out.tools))


def _head(message: Message, block: int) -> Message:
    head: Any = message.content[: block + 1]
    return attrs.evolve(message, content=head)


# --------------------------------------------------------------------------- a 40-request run


def _flatten(context: Context) -> list[tuple[str, bool]]:
    """Wire positions as Anthropic counts them: (content key, carries a marker).

    A run of tool_use blocks, or of tool results, is one position.
    """
    plain, marked = strip_markers(context), markers(context)
    items: list[tuple[str, bool, str]] = []
    for i, tool in enumerate(plain.tools):
        items.append((canonical_json(tool.to_dict()), (0, i, 0) in marked, "tool"))
    for i, text in enumerate(plain.system):
        items.append((canonical_json(text.to_dict()), (1, i, 0) in marked, "system"))
    for m, message in enumerate(plain.messages):
        if isinstance(message, ToolResultMessage):
            hit = any((2, m, b) in marked for b in range(len(message.content)))
            entries = [(canonical_json(message.to_dict()), hit, "tool_result")]
        else:
            entries = [
                (
                    canonical_json(block.to_dict()),
                    (2, m, b) in marked,
                    "tool_use" if isinstance(block, ToolCall) else f"block:{message.role}",
                )
                for b, block in enumerate(message.content)
            ]
        for key, hit, kind in entries:
            if items and kind in ("tool_use", "tool_result") and items[-1][2] == kind:
                before, was, _ = items[-1]
                items[-1] = (before + key, was or hit, kind)
            else:
                items.append((key, hit, kind))
    return [(key, hit) for key, hit, _ in items]


def emulate(requests: list[Context]) -> list[tuple[int, list[int]]]:
    """A small model of Anthropic's cache: writes at breakpoints, reads with a 20-position lookback.

    Returns, per request, the furthest position read from cache (-1 for none)
    and the breakpoint positions.
    """
    cache: set[str] = set()
    out: list[tuple[int, list[int]]] = []
    for context in requests:
        items = _flatten(context)
        digest, hashes = hashlib.sha256(), []
        for key, _ in items:
            digest.update(key.encode())
            hashes.append(digest.copy().hexdigest())
        points = [p for p, (_, marked) in enumerate(items) if marked]
        hit = -1
        for point in points:
            for p in range(point, max(point - 20, -1), -1):
                if hashes[p] in cache:
                    hit = max(hit, p)
                    break
        cache.update(hashes[p] for p in points)
        out.append((hit, points))
    return out


TOOLS = tuple(
    ToolDefinition(
        name, f"{name} a thing", {"type": "object", "properties": {"path": {"type": "string"}}}
    )
    for name in ("read_file", "search", "run")
)


def forty_requests(sequential: int = 26) -> list[Context]:
    """The contexts of a 40-request tool-using run: user turns, parallel calls, and a
    sequential chain of ``sequential`` tool calls; every answer starts with thinking."""
    history: list[Message] = []
    requests: list[Context] = []
    plan = [[2, 0], [1] * sequential + [0], [3, 1, 0], [1, 2, 0], [0], [2, 0], [1, 0]]
    for turn, answers in enumerate(plan, start=1):
        history.append(UserMessage(f"request {turn}: please look at the repository"))
        for step, calls in enumerate(answers):
            requests.append(Context("You are a careful coding agent. " * 20, tuple(history), TOOLS))
            if len(requests) == 40:
                return requests
            ids = [f"c{turn}_{step}_{n}" for n in range(calls)]
            content: list[Any] = [ThinkingContent("let me think", "sig")]
            content += [ToolCall(i, "read_file", {"path": f"/src/{i}.py", "limit": 5}) for i in ids]
            if not calls:
                content.append(TextContent(f"Done with turn {turn}."))
            history.append(
                AssistantMessage(tuple(content), StopReason.TOOL_USE if calls else StopReason.STOP)
            )
            history.extend(ToolResultMessage(i, "read_file", f"contents of {i}") for i in ids)
    raise AssertionError("the plan has fewer than 40 requests")


def test_forty_request_run_stays_within_budget_and_reads_every_previous_write() -> None:
    requests = forty_requests()
    info = info_for()
    annotated = [cache_breakpoints(context, info) for context in requests]
    assert len(annotated) == 40
    for n, out in enumerate(annotated):
        assert count_breakpoints(out) <= MAX_BREAKPOINTS
        assert ttl_order_valid(out)
        if n:
            previous_tail = last_markable(requests[n - 1], len(requests[n - 1].messages), False)
            assert previous_tail in markers(out), f"request {n + 1} does not mark the previous tail"
    results = emulate(annotated)
    for n in range(1, len(results)):
        # The furthest read is the previous request's last write: nothing is re-written.
        assert results[n][0] == max(results[n - 1][1]), f"request {n + 1} missed"


def test_the_predecessors_marker_on_every_user_message_exceeds_the_budget() -> None:
    """The seed's strategy: a marker on the last block of every user message (and the system)."""

    def every_user_message(context: Context, system: bool) -> Context:
        placed: dict[tuple[int, int, int], str | None] = {(1, 0, 0): "5m"} if system else {}
        for m, message in enumerate(context.messages):
            if isinstance(message, UserMessage):
                placed[(2, m, len(message.content) - 1)] = "5m"
        return place_markers(context, placed)

    firsts = [c for c in forty_requests() if isinstance(c.messages[-1], UserMessage)]
    assert len(firsts) == 7
    alone = [count_breakpoints(every_user_message(c, system=False)) for c in firsts]
    assert alone == [1, 2, 3, 4, 5, 6, 7], "over budget from the 5th user message"
    with_system = [count_breakpoints(every_user_message(c, system=True)) for c in firsts]
    assert with_system[3] == 5, "with the system marker, already at the 4th"
    for context in forty_requests():
        assert count_breakpoints(cache_breakpoints(context, info_for())) <= MAX_BREAKPOINTS


# --------------------------------------------------------------------------- worked cases


def test_other_models_are_untouched() -> None:
    context = forty_requests()[5]
    for model in ("gpt-5", "openai/gpt-4o", "google/gemini-2.5-pro"):
        assert cache_breakpoints(context, info_for(model, "openrouter")) is context
    assert CacheBreakpoints(mode="off")(context, info_for()) is context
    forced = CacheBreakpoints(explicit_breakpoints=True)(context, info_for("my-gateway/model", "x"))
    assert count_breakpoints(forced) == 3, "tails and system: no tool marker off Anthropic's API"
    assert CacheBreakpoints(explicit_breakpoints=False)(context, info_for()) is context


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-6",
        "anthropic/claude-opus-4.6",
        "anthropic/claude-4.6-opus-20260101",
        "claude-sonnet-9-20300101",
    ],
)
def test_claude_names_apply(model: str) -> None:
    assert cache_breakpoints.applies_to(model)


def test_one_hour_mode_marks_the_stable_prefix_1h_and_messages_5m() -> None:
    out = CacheBreakpoints(mode="1h")(forty_requests()[3], info_for())
    found = markers(out)
    assert found[(0, 2, 0)] == "1h"
    assert found[(1, 0, 0)] == "1h"
    assert {ttl for site, ttl in found.items() if site[0] == 2} == {"5m"}


def test_caller_5m_marker_on_tools_downgrades_the_system_marker() -> None:
    context = place_markers(forty_requests()[3], {(0, 0, 0): "5m"})
    out = CacheBreakpoints(mode="1h")(context, info_for())
    assert markers(out)[(0, 0, 0)] == "5m"
    assert markers(out).get((1, 0, 0), "5m") == "5m"
    assert ttl_order_valid(out)


def test_caller_1h_marker_late_upgrades_earlier_new_markers() -> None:
    context = forty_requests()[3]
    last = len(context.messages) - 1
    context = place_markers(context, {(2, last, 0): "1h"})
    out = cache_breakpoints(context, info_for())
    assert markers(out)[(2, last, 0)] == "1h"
    assert set(markers(out).values()) == {"1h"}
    assert count_breakpoints(out) == 4


@pytest.mark.parametrize(
    ("placed", "problem"),
    [
        (
            {(0, 0, 0): "5m", (0, 1, 0): "5m", (0, 2, 0): "5m", (1, 0, 0): "5m", (2, 0, 0): "5m"},
            "5 cache markers",
        ),
        ({(0, 0, 0): "5m", (1, 0, 0): "1h"}, "must come first"),
    ],
)
def test_invalid_caller_markers_are_named(placed: dict[Any, Any], problem: str) -> None:
    context = place_markers(forty_requests()[3], placed)
    with pytest.raises(CacheMarkerError, match=problem):
        cache_breakpoints(context, info_for())


def test_caller_marker_on_empty_text_is_refused() -> None:
    context = Context("system", (UserMessage([TextContent("", CacheControl())]),))
    with pytest.raises(CacheMarkerError, match=r"empty text block at messages\[0\]\.content\[0\]"):
        cache_breakpoints(context, info_for())


def test_volatile_system_blocks_stay_after_the_marker() -> None:
    system = (TextContent("Stable instructions. " * 50), TextContent("Today is 2026-11-26."))
    context = Context(system, (UserMessage("hi"),))
    out = CacheBreakpoints(volatile_system_blocks=1)(context, info_for())
    assert (1, 0, 0) in markers(out)
    assert (1, 1, 0) not in markers(out)
    everything_volatile = CacheBreakpoints(volatile_system_blocks=2)(context, info_for())
    assert not any(site[0] == 1 for site in markers(everything_volatile))


def test_tail_skips_thinking_and_blank_text() -> None:
    answer = AssistantMessage(
        (TextContent("answer"), ThinkingContent("hmm", "s"), TextContent(" "))
    )
    context = Context("sys", (UserMessage("q"), answer))
    out = cache_breakpoints(context, info_for())
    assert (2, 1, 0) in markers(out)
    assert (2, 0, 0) in markers(out)


def test_gateways_get_text_markers_only() -> None:
    call = ToolCall("c1", "read_file", {"path": "a"})
    context = Context(
        "sys",
        (
            UserMessage([TextContent("look"), ImageContent("iVBOR", "image/png")]),
            AssistantMessage((TextContent("reading"), call), StopReason.TOOL_USE),
            ToolResultMessage("c1", "read_file", [ImageContent("iVBOR", "image/png")]),
        ),
    )
    direct = cache_breakpoints(context, info_for())
    assert {(2, 0, 1), (2, 2, 0)} <= markers(direct).keys()
    gateway = cache_breakpoints(context, info_for("anthropic/claude-sonnet-4.5", "openrouter"))
    assert {(2, 0, 0), (2, 1, 0)} <= markers(gateway).keys()
    assert all(isinstance(block_at(gateway, s), TextContent) for s in markers(gateway) if s[0] == 2)


def _long_span(blocks: int) -> Context:
    """No tools, so a slot is free; the newest answer appends ``blocks`` sequential blocks."""
    content: list[Any] = []
    for n in range(blocks):
        content += [TextContent(f"step {n}"), ToolCall(f"c{n}", "run", {"n": n})]
    results = [ToolResultMessage(f"c{n}", "run", f"ok {n}") for n in range(blocks)]
    history = (UserMessage("go"), AssistantMessage(tuple(content), StopReason.TOOL_USE), *results)
    return Context("You are terse.", history)


def test_bridge_is_placed_when_a_request_appends_more_than_the_lookback() -> None:
    out = cache_breakpoints(_long_span(12), info_for())
    # previous tail (2,0,0), 12 text + 12 tool_use positions, then the results run.
    assert count_breakpoints(out) == 4
    bridge = [s for s in markers(out) if s[0] == 2 and s[1] == 1]
    assert bridge == [(2, 1, 18)], (
        "the last markable block within 19 positions of the previous tail"
    )
    short = cache_breakpoints(_long_span(5), info_for())
    assert count_breakpoints(short) == 3


def test_parallel_calls_and_their_results_count_as_one_position_each() -> None:
    calls = tuple(ToolCall(f"c{n}", "run", {}) for n in range(30))
    results = tuple(ToolResultMessage(f"c{n}", "run", "ok") for n in range(30))
    context = Context(
        "sys", (UserMessage("go"), AssistantMessage(calls, StopReason.TOOL_USE), *results)
    )
    out = cache_breakpoints(context, info_for())
    assert count_breakpoints(out) == 3, "60 blocks, but 2 positions: no bridge"


def test_prefix_below_minimum_warns_once_per_process_per_model_and_prefix() -> None:
    context = Context("short system prompt", (UserMessage("hi"),), TOOLS)
    other_prefix = Context("another short system prompt", (UserMessage("hi"),), TOOLS)
    with capture_logs() as logs:
        info = info_for(run="one")
        for _ in range(3):
            cache_breakpoints(context, info)
        cache_breakpoints(context, info_for(run="two"))  # the same agent again: no repeat
        longer_history = context.evolve(messages=(*context.messages, UserMessage("more")))
        cache_breakpoints(longer_history, info_for(run="three"))  # same stable prefix
        cache_breakpoints(other_prefix, info_for(run="four"))
        cache_breakpoints(context, info_for("claude-haiku-4-5", "anthropic", run="five"))
    warnings = [e for e in logs if e["event"] == "cache.prefix_below_minimum"]
    assert [(w["model"], w["minimum"]) for w in warnings] == [
        (SONNET[0], 1024),
        (SONNET[0], 1024),
        ("claude-haiku-4-5", 4096),
    ]
    first = warnings[0]
    assert first["log_level"] == "warning"
    assert 0 < first["estimate"] < 1024
    assert "not cached" in first["hint"] and "mode='off'" in first["hint"]


def test_tool_definitions_are_marked_only_where_the_api_takes_it() -> None:
    context = Context("x" * 4 * 1100, (UserMessage("hi"),), TOOLS)
    direct = cache_breakpoints(context, info_for(SONNET[0], "anthropic"))
    gateway = cache_breakpoints(context, info_for("anthropic/claude-sonnet-4.5", "openrouter"))
    assert direct.tools[-1].cache_control is not None
    assert all(t.cache_control is None for t in gateway.tools), "OpenRouter would drop it"
    assert gateway.system[-1].cache_control is not None, "the system marker covers the tools"


def test_long_enough_prefix_does_not_warn() -> None:
    context = Context("x" * 4 * 1100, (UserMessage("hi"),))
    with capture_logs() as logs:
        cache_breakpoints(context, info_for())
        CacheBreakpoints(min_cacheable_tokens=5000)(context, info_for(run="other"))
    assert [e["minimum"] for e in logs] == [5000]


def test_images_count_toward_the_estimate() -> None:
    context = Context("sys", (UserMessage([ImageContent("iVBOR", "image/png")]),))
    with capture_logs() as logs:
        cache_breakpoints(context, info_for("claude-haiku-4-5", "anthropic"))
    assert logs[0]["estimate"] >= 1600
    assert logs[0]["minimum"] == 4096


@pytest.mark.parametrize(
    "bad",
    [
        {"mode": "2h"},
        {"volatile_system_blocks": -1},
        {"explicit_breakpoints": "yes"},
        {"min_cacheable_tokens": -5},
    ],
)
def test_bad_configuration_is_rejected(bad: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        CacheBreakpoints(**bad)


def test_docs_minimum_token_table_matches_the_model_table() -> None:
    page = (Path(__file__).parent.parent / "docs" / "concepts" / "caching.md").read_text()
    rows = dict(re.findall(r"^\| `(claude-[a-z0-9.\-]+)` \| ([0-9,]+) \|", page, re.M))
    table = {
        m.key: f"{m.min_cacheable_tokens:,}"
        for m in registered_models()
        if m.explicit_cache_breakpoints
    }
    assert rows == table


@pytest.mark.parametrize(("blocks", "bridged"), [(18, False), (19, True)])
def test_bridge_starts_exactly_where_the_lookback_ends(blocks: int, bridged: bool) -> None:
    """Previous tail at position 0, tail at ``blocks + 1``: 20 positions are out of reach."""
    answer = AssistantMessage(tuple(TextContent(f"part {n}") for n in range(blocks)))
    context = Context("sys", (UserMessage("go"), answer, UserMessage("next")))
    found = markers(cache_breakpoints(context, info_for()))
    assert {(1, 0, 0), (2, 0, 0), (2, 2, 0)} <= found.keys()
    assert ((2, 1, 18) in found) is bridged
    assert count_breakpoints(cache_breakpoints(context, info_for())) == 3 + bridged


# --------------------------------------------------------------------------- by capability


def test_the_marker_api_names_are_the_real_providers_names() -> None:
    from agentkit.providers import AnthropicProvider, OpenAICompatibleProvider, OpenRouterProvider

    assert AnthropicProvider.name in MARKER_APIS
    assert OpenRouterProvider.name not in MARKER_APIS
    assert OpenAICompatibleProvider.name not in MARKER_APIS


@pytest.mark.parametrize(
    ("model", "provider", "marked"),
    [
        # Anthropic's Messages API takes markers whatever the model is called.
        ("gateway-sonnet", "anthropic", True),
        ("litellm/prod-large", "anthropic", True),
        ("claude-sonnet-4-5", "anthropic", True),
        # Elsewhere the model family decides: the registry, then the name.
        ("gateway-sonnet", "openrouter", False),
        ("gateway-sonnet", "openai_compatible", False),
        ("anthropic/claude-sonnet-4.5", "openrouter", True),
        ("claude-3-5-haiku-20241022", "openai_compatible", True),
        ("claude-sonnet-9-20300101", "openai_compatible", True),
        ("openai/gpt-5", "openrouter", False),
        ("gpt-5", "openai_compatible", False),
        ("gateway-sonnet", "scripted", False),
    ],
)
def test_markers_follow_the_providers_api_then_the_model_family(
    model: str, provider: str, marked: bool
) -> None:
    context = forty_requests()[5]
    with capture_logs():
        out = cache_breakpoints(context, info_for(model, provider))
    assert cache_breakpoints.applies_to(model, provider) is marked
    if marked:  # the tool definitions take a marker only on Anthropic's own API
        assert count_breakpoints(out) == (MAX_BREAKPOINTS if provider == "anthropic" else 3)
    else:
        assert out is context


def test_applies_to_without_a_provider_decides_by_family_as_before() -> None:
    assert cache_breakpoints.applies_to("claude-opus-4-6")
    assert not cache_breakpoints.applies_to("gateway-sonnet")


@pytest.mark.parametrize("provider", ["anthropic", "openrouter", "openai_compatible", "mine"])
def test_explicit_breakpoints_and_mode_off_win_over_the_api(provider: str) -> None:
    context = forty_requests()[5]
    forced = CacheBreakpoints(explicit_breakpoints=True)
    with capture_logs():
        placed = count_breakpoints(forced(context, info_for("gpt-5-alias", provider)))
        assert placed == (4 if provider == "anthropic" else 3)
    assert forced.applies_to("gpt-5-alias", provider)
    never = CacheBreakpoints(explicit_breakpoints=False)
    assert never(context, info_for("claude-sonnet-4-5", provider)) is context
    off = CacheBreakpoints(mode="off", explicit_breakpoints=True)
    assert off(context, info_for("claude-sonnet-4-5", provider)) is context


def test_an_unknown_model_gets_markers_and_one_notice_per_run_naming_the_assumption() -> None:
    context = forty_requests()[5]
    with capture_logs() as logs:
        info = info_for("gateway-sonnet", "anthropic", run="one")
        for _ in range(3):
            cache_breakpoints(context, info)
        cache_breakpoints(context, info_for("gateway-sonnet", "anthropic", run="two"))
        cache_breakpoints(context, info_for("claude-sonnet-4-5", "anthropic", run="three"))
    notices = [e for e in logs if e["event"] == "cache.model_assumed"]
    assert [e["run_id"] for e in notices] == ["one", "two"], "once a run, known models never"
    notice = notices[0]
    assert notice["log_level"] == "info"
    assert notice["model"] == "gateway-sonnet"
    assert notice["provider"] == "anthropic"
    assert notice["min_cacheable_tokens"] == ASSUMED_MIN_CACHEABLE_TOKENS == 1024
    assert "anthropic API" in notice["because"]
    assert "register_model" in notice["hint"]


@pytest.mark.parametrize(
    ("model", "provider", "because"),
    [
        ("claude-sonnet-9-20300101", "openrouter", "the model name contains 'claude'"),
        ("my-alias", "openrouter", "explicit_breakpoints=True"),
    ],
)
def test_the_notice_says_why_markers_were_placed(model: str, provider: str, because: str) -> None:
    transform = CacheBreakpoints(explicit_breakpoints=True if model == "my-alias" else None)
    with capture_logs() as logs:
        transform(forty_requests()[5], info_for(model, provider))
    [notice] = [e for e in logs if e["event"] == "cache.model_assumed"]
    assert notice["because"] == because


def test_an_unknown_model_warns_below_the_assumed_minimum() -> None:
    context = Context("short system prompt", (UserMessage("hi"),), TOOLS)
    with capture_logs() as logs:
        cache_breakpoints(context, info_for("gateway-sonnet", "anthropic"))
    [warning] = [e for e in logs if e["event"] == "cache.prefix_below_minimum"]
    assert warning["minimum"] == ASSUMED_MIN_CACHEABLE_TOKENS
    assert CacheBreakpoints(min_cacheable_tokens=0).minimum_tokens("gateway-sonnet") == 0


# ------------------------------------------- tail placement inside tool results (issue 18 item 5)

result_blocks = st.lists(
    st.one_of(
        st.builds(TextContent, st.sampled_from(["", " ", "\n"])),  # blank: never markable
        st.builds(TextContent, st.text(min_size=1, max_size=20).filter(lambda t: not t.isspace())),
        st.builds(ImageContent, st.just("iVBORw0KGgoAAAANSUhEUg=="), st.just("image/png")),
    ),
    max_size=5,
)


@PROPERTY
@given(contexts(max_caller_markers=0), result_blocks, configs, st.sampled_from(INFOS))
def test_the_tail_marker_lands_on_the_last_markable_block_of_the_newest_message(
    context: Context, blocks: list[Any], config: CacheBreakpoints, which: Any
) -> None:
    # The newest message is a tool result, often ending in blank text or images.
    newest = ToolResultMessage("call_newest", "run", tuple(blocks))
    context = context.evolve(messages=(*context.messages, newest))
    text_only = which[1] != "anthropic"
    after = config(context, info_for(*which))
    last = len(context.messages) - 1
    eligible = [
        b
        for b, block in enumerate(blocks)
        if (isinstance(block, TextContent) and not is_blank(block.text))
        or (isinstance(block, ImageContent) and not text_only)
    ]
    placed = [site for site in markers(after) if site[0] == 2 and site[1] == last]
    if eligible:
        assert placed == [(2, last, eligible[-1])]
    else:  # nothing in it can carry a marker: the tail is the last markable block before it
        assert placed == []
        earlier = last_markable(context, last, text_only)
        if earlier is not None:
            assert earlier in markers(after)


def _result_context(*content: Any) -> Context:
    call = ToolCall("call_1", "read_file", {"path": "a.png"})
    return Context(
        (TextContent("You review images."),),
        (
            UserMessage("Look at a.png."),
            AssistantMessage((call,), StopReason.TOOL_USE),
            ToolResultMessage("call_1", "read_file", content),
        ),
    )


IMAGE = ImageContent("iVBORw0KGgoAAAANSUhEUg==", "image/png")


@pytest.mark.parametrize(
    ("content", "provider", "marked"),
    [
        # A blank last text: the text before it in the same result, not an earlier message.
        ((TextContent("file contents"), TextContent("")), "anthropic", 0),
        ((TextContent("file contents"), TextContent("")), "openrouter", 0),
        # Through OpenRouter's text-only markers, a result ending in an image keeps its text.
        ((TextContent("a.png:"), IMAGE), "openrouter", 0),
        ((TextContent("a.png:"), IMAGE, TextContent(" ")), "openrouter", 0),
        # Anthropic marks the tool_result block itself: the image may carry it.
        ((TextContent("a.png:"), IMAGE), "anthropic", 1),
    ],
)
def test_a_tool_result_keeps_the_tail_marker_on_its_last_markable_block(
    content: tuple[Any, ...], provider: str, marked: int
) -> None:
    model = "claude-sonnet-4-5" if provider == "anthropic" else "anthropic/claude-sonnet-4.5"
    after = cache_breakpoints(_result_context(*content), info_for(model, provider))
    assert [site for site in markers(after) if site[0] == 2 and site[1] == 2] == [(2, 2, marked)]


@pytest.mark.parametrize(("blocks", "bridged"), [(18, False), (19, True)])
def test_a_tool_result_marked_before_its_image_is_one_position_for_the_lookback(
    blocks: int, bridged: bool
) -> None:
    """The previous tail is a tool result marked on its text (OpenRouter), not its image."""
    call = ToolCall("c0", "read_file", {"path": "a.png"})
    answer = AssistantMessage(tuple(TextContent(f"part {n}") for n in range(blocks)))
    history = (
        UserMessage("go"),
        AssistantMessage((call,), StopReason.TOOL_USE),
        ToolResultMessage("c0", "read_file", (TextContent("a.png:"), IMAGE)),
        answer,
        UserMessage("next"),
    )
    info = info_for("anthropic/claude-sonnet-4.5", "openrouter")
    found = markers(cache_breakpoints(Context("sys", history), info))
    assert {(2, 2, 0), (2, 4, 0)} <= found.keys()
    assert ((2, 3, 18) in found) is bridged
