"""Usage and cost in agentkit's convention, from OpenAI-shaped and Anthropic usage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit._messages import Usage
from agentkit._models import ModelInfo, find_model, register_model
from agentkit.providers._usage import (
    anthropic_usage,
    cost_from_prices,
    derive_cache_write_tokens,
    openai_usage,
)

OPUS = "anthropic/claude-opus-4.7"  # $5 / $25 per million


def openrouter_cost(prompt: int, read: int, write: int, completion: int) -> float:
    p_in, p_out = 5e-6, 25e-6
    return (
        p_in * (prompt - read - write)
        + 0.1 * p_in * read
        + 1.25 * p_in * write
        + p_out * completion
    )


def test_openrouter_with_cache_write_tokens() -> None:
    raw = {
        "prompt_tokens": 10339,
        "completion_tokens": 60,
        "cost": 0.0123,
        "prompt_tokens_details": {"cached_tokens": 10318, "cache_write_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    usage = openai_usage(raw, model=OPUS, derive_cache_writes=True)
    assert usage == Usage(input=21, output=60, cache_read=10318, reasoning=20, cost=0.0123)
    assert usage.prompt == 10339
    assert usage.total == 10399


def test_openrouter_cache_writes_derived_from_cost_when_absent() -> None:
    cost = openrouter_cost(prompt=6000, read=0, write=5752, completion=5)
    raw = {
        "prompt_tokens": 6000,
        "completion_tokens": 5,
        "cost": cost,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    usage = openai_usage(raw, model=OPUS, derive_cache_writes=True)
    assert (usage.input, usage.cache_write, usage.cache_read) == (248, 5752, 0)
    assert usage.cache_write_derived
    assert usage.cost == cost
    assert usage.to_dict()["cache_write_derived"] is True


def test_no_derivation_for_plain_openai_compatible_or_unknown_models() -> None:
    raw = {"prompt_tokens": 100, "completion_tokens": 5, "cost": 1.0}
    plain = openai_usage(raw, model=OPUS, derive_cache_writes=False)
    unknown = openai_usage(raw, model="mystery/model", derive_cache_writes=True)
    for usage in (plain, unknown):
        assert (usage.input, usage.cache_write, usage.cache_write_derived) == (100, 0, False)


def test_cost_from_registry_when_not_reported() -> None:
    raw = {
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "prompt_tokens_details": {"cached_tokens": 400},
    }
    usage = openai_usage(raw, model="claude-sonnet-4-5", derive_cache_writes=False)
    assert usage.cost == pytest.approx((600 * 3 + 400 * 0.3 + 100 * 15) * 1e-6)
    assert openai_usage(raw, model="unknown", derive_cache_writes=False).cost is None


def test_reasoning_is_never_counted_twice() -> None:
    inside = {"prompt_tokens": 10, "completion_tokens": 50, "total_tokens": 60,
              "completion_tokens_details": {"reasoning_tokens": 30}}  # fmt: skip
    outside = {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 60,
               "completion_tokens_details": {"reasoning_tokens": 30}}  # fmt: skip
    for raw in (inside, outside):
        usage = openai_usage(raw, model="m", derive_cache_writes=False)
        assert (usage.output, usage.reasoning, usage.total) == (50, 30, 60)


def test_anthropic_usage_with_one_hour_writes_and_cost() -> None:
    raw = {
        "input_tokens": 9,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 1000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 7,
    }
    usage = anthropic_usage(raw, model="claude-opus-4-7")
    assert (usage.input, usage.cache_write, usage.cache_write_1h, usage.cache_read) == (
        9,
        3000,
        2000,
        1000,
    )
    expected = (9 * 5 + 1000 * 6.25 + 2000 * 10 + 1000 * 0.5 + 7 * 25) * 1e-6
    assert usage.cost == pytest.approx(expected)
    assert cost_from_prices(usage, "claude-opus-4-7") == pytest.approx(expected)


def test_junk_counts_are_zero_not_errors() -> None:
    raw: dict[str, Any] = {
        "prompt_tokens": None,
        "completion_tokens": "x",
        "prompt_tokens_details": [],
        "cost": True,
    }
    assert openai_usage(raw, model="m", derive_cache_writes=True) == Usage(cost=None)


def test_registered_models_are_used_for_cost() -> None:
    register_model(ModelInfo("acme/tiny-1", input_price=1.0, output_price=2.0))
    try:
        usage = openai_usage({"prompt_tokens": 10, "completion_tokens": 10}, model="acme/tiny-1",
                             derive_cache_writes=False)  # fmt: skip
        assert usage.cost == pytest.approx(30e-6)
    finally:
        from agentkit import _models as models

        models._REGISTERED.pop("tiny-1", None)


@given(
    prompt=st.integers(0, 300_000),
    read_share=st.floats(0, 1),
    write_share=st.floats(0, 1),
    completion=st.integers(0, 50_000),
)
def test_derivation_inverts_the_cost_formula(
    prompt: int, read_share: float, write_share: float, completion: int
) -> None:
    read = int(prompt * read_share)
    write = int((prompt - read) * write_share)
    info = find_model(OPUS)
    assert info is not None
    cost = round(openrouter_cost(prompt, read, write, completion), 9)  # services round the cost
    derived = derive_cache_write_tokens(
        cost=cost, prompt=prompt, cached=read, completion=completion, info=info
    )
    assert derived == write


# ------------------------------------------------- OpenRouter writes: reported first, derived last

RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "recorded"


def recorded_usages(name: str) -> list[dict[str, Any]]:
    """The ``usage`` objects of a recorded OpenRouter stream (see its .source.txt)."""
    found = []
    for line in (RECORDED / name).read_text().splitlines():
        if line.startswith("data: {"):
            chunk = json.loads(line[len("data: ") :])
            if chunk.get("usage"):
                found.append(chunk["usage"] | {"model": chunk.get("model")})
    return found


REPORTING = sorted(
    p.name for p in RECORDED.glob("openrouter_*.sse") if "cache_write_tokens" in p.read_text()
)


def test_the_recorded_streams_cover_both_shapes() -> None:
    # Reported: every 2026 recording of a paid model carries the field.
    assert len(REPORTING) >= 4
    # Absent: the goose capture of a free model has neither the field nor a cost.
    (goose,) = recorded_usages("openrouter_gptoss_text_usage_chunk_goose.sse")
    assert "cache_write_tokens" not in (goose.get("prompt_tokens_details") or {})
    assert "cost" not in goose


@pytest.mark.parametrize("name", REPORTING)
def test_a_reported_cache_write_count_is_used_whatever_the_cost_says(name: str) -> None:
    for raw in recorded_usages(name):
        reported = raw["prompt_tokens_details"]["cache_write_tokens"]
        usage = openai_usage(raw, model=raw["model"], derive_cache_writes=True)
        assert (usage.cache_write, usage.cache_write_derived) == (reported, False)
        # A cost implying 1,000 written tokens does not override what the service said.
        inflated = raw | {"cost": raw["cost"] + 1000 * 0.25 * 5e-6}
        usage = openai_usage(inflated, model=raw["model"], derive_cache_writes=True)
        assert (usage.cache_write, usage.cache_write_derived) == (reported, False)
        assert usage.cost == inflated["cost"]  # the service's own figure


def test_recorded_claude_costs_match_the_registry_prices_the_derivation_uses() -> None:
    # The derivation is only as right as the prices; these are OpenRouter's own figures
    # (cost_details of a real Bedrock-served Opus 4.7 request), not the emulator's table.
    name = "openrouter_claude_opus47_bedrock_tool_loop.call{}.sse"
    for call in (1, 2):
        (raw,) = recorded_usages(name.format(call))
        info = find_model(raw["model"])
        assert info is not None and info.input_price and info.output_price
        details = raw["cost_details"]
        prompt_cost = raw["prompt_tokens"] * info.input_price * 1e-6
        completion_cost = raw["completion_tokens"] * info.output_price * 1e-6
        assert prompt_cost == pytest.approx(details["upstream_inference_prompt_cost"])
        assert completion_cost == pytest.approx(details["upstream_inference_completions_cost"])
        # Without the field, the cost alone gives back the count the service reported.
        bare = raw | {"prompt_tokens_details": {"cached_tokens": 0}}
        derived = openai_usage(bare, model=raw["model"], derive_cache_writes=True)
        assert derived.cache_write == raw["prompt_tokens_details"]["cache_write_tokens"]
        assert derived.cache_write_derived


@given(st.integers(0, 50_000), st.integers(0, 50_000), st.integers(0, 50_000), st.integers(0, 5000))
def test_writes_are_derived_only_when_the_field_is_absent(
    uncached: int, read: int, write: int, completion: int
) -> None:
    prompt = uncached + read + write
    raw = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cost": openrouter_cost(prompt, read, write, completion),
        "prompt_tokens_details": {"cached_tokens": read},
    }
    derived = openai_usage(raw, model=OPUS, derive_cache_writes=True)
    assert derived.cache_write_derived
    assert abs(derived.cache_write - write) <= 1  # rounding of the cost, at most a token
    reported = dict(raw, prompt_tokens_details={"cached_tokens": read, "cache_write_tokens": 7})
    used = openai_usage(reported, model=OPUS, derive_cache_writes=True)
    assert (used.cache_write, used.cache_write_derived) == (min(7, prompt - read), False)
