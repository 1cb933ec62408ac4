"""Usage and cost in agentkit's one convention, from each service's own fields.

agentkit's :class:`~agentkit.Usage` counts ``input`` *without* cache reads
and writes (Anthropic's convention); OpenAI-shaped services report
``prompt_tokens`` *including* them, so they are subtracted here. Reasoning
tokens are part of ``output`` and are never added to it a second time: they
are added to ``completion_tokens`` only when ``total_tokens`` shows the
service counted them outside it (xAI does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from agentkit._log import get_logger
from agentkit._messages import Usage
from agentkit._models import (
    CACHE_READ_MULTIPLIER,
    CACHE_WRITE_5M_MULTIPLIER,
    ModelInfo,
    find_model,
)

__all__ = [
    "anthropic_usage",
    "PriceNotices",
    "partial_usage",
    "cost_from_prices",
    "derive_cache_write_tokens",
    "MAX_PLAUSIBLE_COST",
    "MAX_PLAUSIBLE_TOKENS",
    "openai_usage",
    "reported_cost",
]

_PER_TOKEN = 1e-6  # registry prices are per million tokens

#: Reported costs outside [0, this] (US dollars for one request) are dropped with a
#: warning, as are NaN and infinities: no single request costs that much, and such
#: a value would poison every sum it enters.
MAX_PLAUSIBLE_COST = 10_000.0
#: Token counts above this for one request are dropped (counted as 0) with a warning.
MAX_PLAUSIBLE_TOKENS = 10**9

_log = get_logger("agentkit.providers")


def _int(value: Any, field: str = "tokens") -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if not math.isfinite(value) or value > MAX_PLAUSIBLE_TOKENS:
        _log.warning("provider.usage_dropped", field=field, value=repr(value)[:40])
        return 0
    return max(int(value), 0)


def reported_cost(value: Any) -> float | None:
    """A service's reported cost in USD, or None when absent or implausible (logged)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        _log.warning("provider.cost_dropped", reason="not a number", value=repr(value)[:40])
        return None
    try:
        cost = float(value)
    except OverflowError:  # an int too large for a float
        cost = math.inf
    if not math.isfinite(cost) or not 0.0 <= cost <= MAX_PLAUSIBLE_COST:
        _log.warning("provider.cost_dropped", reason="implausible", value=repr(value)[:40])
        return None
    return cost


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def cost_from_prices(usage: Usage, model: str) -> float | None:
    """US dollars for ``usage`` at the registry's list prices; None if they are unknown."""
    info = find_model(model)
    if info is None or info.input_price is None or info.output_price is None:
        return None
    write_5m = usage.cache_write - usage.cache_write_1h
    total = (
        usage.input * info.input_price
        + usage.cache_read * (info.cache_read_price or 0.0)
        + write_5m * (info.cache_write_5m_price or 0.0)
        + usage.cache_write_1h * (info.cache_write_1h_price or 0.0)
        + usage.output * info.output_price
    )
    return total * _PER_TOKEN


def derive_cache_write_tokens(
    *, cost: float, prompt: int, cached: int, completion: int, info: ModelInfo
) -> int | None:
    """Cache-write tokens implied by a reported ``cost`` (USD), assuming 5-minute writes.

    Solves ``cost = p_in*(P-R-W) + r*p_in*R + w*p_in*W + p_out*C`` for ``W``
    (reference section 3.9). None when the model's prices are unknown.
    """
    if info.input_price is None or info.output_price is None or info.input_price <= 0:
        return None
    p_in = info.input_price * _PER_TOKEN
    p_out = info.output_price * _PER_TOKEN
    uncached = max(prompt - cached, 0)
    rest = cost - p_in * uncached - CACHE_READ_MULTIPLIER * p_in * cached - p_out * completion
    writes = round(rest / ((CACHE_WRITE_5M_MULTIPLIER - 1.0) * p_in))
    return min(max(writes, 0), uncached)


def openai_usage(raw: Mapping[str, Any], *, model: str, derive_cache_writes: bool) -> Usage:
    """Usage from an OpenAI-shaped ``usage`` object (OpenRouter, OpenAI-compatible servers).

    ``cost`` is taken from ``raw["cost"]`` (OpenRouter credits, 1 credit =
    1 USD) when present and plausible (see :func:`reported_cost`), otherwise
    from the registry, otherwise None (unknown). The reported
    ``prompt_tokens_details.cache_write_tokens`` is used whenever present. When
    ``prompt_tokens_details.cache_write_tokens`` is absent and
    ``derive_cache_writes`` is set, writes are derived from the cost and the
    model's prices and ``cache_write_derived`` is set.
    """
    prompt = _int(raw.get("prompt_tokens"))
    completion = _int(raw.get("completion_tokens"))
    details = _mapping(raw.get("prompt_tokens_details"))
    cached = min(_int(details.get("cached_tokens")), prompt)
    reasoning = _int(_mapping(raw.get("completion_tokens_details")).get("reasoning_tokens"))
    if reasoning and _int(raw.get("total_tokens")) == prompt + completion + reasoning:
        # Some services (xAI) count reasoning outside completion_tokens; total_tokens tells.
        completion += reasoning
    cost = reported_cost(raw.get("cost"))
    derived = False
    if "cache_write_tokens" in details:
        written = min(_int(details.get("cache_write_tokens")), prompt - cached)
    else:
        written = 0
        info = find_model(model)
        if derive_cache_writes and cost is not None and info is not None:
            estimate = derive_cache_write_tokens(
                cost=cost, prompt=prompt, cached=cached, completion=completion, info=info
            )
            if estimate is not None:
                written, derived = estimate, True
    usage = Usage(
        input=prompt - cached - written,
        output=completion,
        cache_read=cached,
        cache_write=written,
        reasoning=min(reasoning, completion),
        cache_write_derived=derived,
    )
    if cost is None:
        cost = cost_from_prices(usage, model)
    return attrs.evolve(usage, cost=cost)


class PriceNotices:
    """Logs ``usage.price_unknown`` the first time a model's cost is unknown.

    One per provider: once per model is enough to tell, and a notice per
    request would drown the log.
    """

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def check(self, usage: Usage, *, model: str, provider: str) -> None:
        if usage.cost is not None or usage.partial or model in self._seen:
            return
        self._seen.add(model)
        _log.warning(
            "usage.price_unknown",
            provider=provider,
            model=model[:200],
            detail="cost is None (unknown), not 0.0: agentkit has no price for this model "
            "and the service reported none; register_model(ModelInfo(...)) adds one",
        )


def partial_usage(usage: Usage | None) -> Usage:
    """The usage of a request that did not complete: ``usage`` marked partial.

    None (the service had reported nothing yet) gives zero tokens at an
    unknown cost: the request was probably billed, for an amount nobody knows.
    """
    if usage is None:
        return Usage(cost=None, partial=True)
    return attrs.evolve(usage, partial=True)


def anthropic_usage(raw: Mapping[str, Any], *, model: str) -> Usage:
    """Usage from Anthropic's ``usage`` (already exclusive of cache); cost from the registry.

    Pass ``message_start``'s usage updated with every ``message_delta`` usage:
    the delta counts are cumulative, so later values replace earlier ones.
    """
    written = _int(raw.get("cache_creation_input_tokens"))
    split = _mapping(raw.get("cache_creation"))
    written_1h = min(_int(split.get("ephemeral_1h_input_tokens")), written)
    output = _int(raw.get("output_tokens"))
    thinking = _int(_mapping(raw.get("output_tokens_details")).get("thinking_tokens"))
    usage = Usage(
        input=_int(raw.get("input_tokens")),
        output=output,
        cache_read=_int(raw.get("cache_read_input_tokens")),
        cache_write=written,
        cache_write_1h=written_1h,
        reasoning=min(thinking, output),
    )
    return attrs.evolve(usage, cost=cost_from_prices(usage, model))
