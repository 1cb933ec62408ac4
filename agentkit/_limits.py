"""Usage limits: what a run may spend, and the checks the loop makes against them.

The checks are plain arithmetic over what the run has spent so far, the next
request's worst case and the clock: deterministic orchestrator code, no
effect of its own. The loop calls :meth:`Budget.before_request` before each
model call, :meth:`Budget.after_response` after each answer and
:meth:`Budget.admit_tool_calls` before each batch of tool calls.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, Literal, get_args

from attrs import Attribute, define, field

from agentkit._errors import UnenforceableLimitError
from agentkit._messages import Context, Usage
from agentkit._models import ModelInfo, find_model
from agentkit.providers._base import ModelOptions
from agentkit.providers._usage import cost_from_prices
from agentkit.transforms._breakpoints import MESSAGES, estimate_prefix_tokens

__all__ = [
    "Budget",
    "ExceededLimit",
    "LimitName",
    "UsageLimits",
    "estimate_request_tokens",
]

LimitName = Literal[
    "requests",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_write_tokens",
    "cost_usd",
    "tool_calls",
    "seconds",
]

#: The limits in the order they are checked (and reported when several are crossed).
LIMIT_NAMES: tuple[LimitName, ...] = get_args(LimitName)


def _whole(instance: object, attribute: Attribute[Any], value: Any) -> None:
    name = attribute.name
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"UsageLimits.{name} must be an int or None, got {value!r}")
    if value < 0:
        raise ValueError(f"UsageLimits.{name} must not be negative, got {value}")


def _number(instance: object, attribute: Attribute[Any], value: Any) -> None:
    name = attribute.name
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"UsageLimits.{name} must be a number or None, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"UsageLimits.{name} must be a finite number >= 0, got {value!r}")


def _on_exceed(instance: object, attribute: Attribute[Any], value: Any) -> None:
    if value not in ("raise", "stop"):
        raise ValueError(f"UsageLimits.on_exceed must be 'raise' or 'stop', got {value!r}")


@define(frozen=True, slots=True, kw_only=True)
class UsageLimits:
    """What one run may spend; every field is optional (None: no limit).

    ``requests`` counts model calls; ``input_tokens`` counts every prompt
    token, uncached input plus cache reads plus cache writes
    (``Usage.prompt``); ``output_tokens`` includes thinking; ``total_tokens``
    is both (``Usage.total``); ``cache_write_tokens`` counts tokens written to
    the cache; ``cost_usd`` is US dollars (``Usage.cost``); ``tool_calls``
    counts the calls the loop lets start; ``seconds`` is wall-clock time since
    the run started, measured with ``LoopConfig.clock``.

    ``on_exceed="raise"`` (default) fails the run with
    :class:`~agentkit.UsageLimitExceeded`; ``"stop"`` ends it normally with
    ``StopReason.USAGE_LIMIT`` and ``RunResult.limit_exceeded`` set.
    """

    requests: int | None = field(default=None, validator=_whole)
    input_tokens: int | None = field(default=None, validator=_whole)
    output_tokens: int | None = field(default=None, validator=_whole)
    total_tokens: int | None = field(default=None, validator=_whole)
    cache_write_tokens: int | None = field(default=None, validator=_whole)
    cost_usd: float | None = field(default=None, validator=_number)
    tool_calls: int | None = field(default=None, validator=_whole)
    seconds: float | None = field(default=None, validator=_number)
    on_exceed: Literal["raise", "stop"] = field(default="raise", validator=_on_exceed)


@define(frozen=True, slots=True)
class ExceededLimit:
    """Which limit a run hit: ``spent`` so far against ``allowed``.

    ``projected`` is set when the check was made before a request or a tool
    batch: what the spend could have reached had it gone ahead (it was not
    made). It is None when the real spend itself crossed the limit.
    """

    limit: LimitName
    allowed: float
    spent: float
    projected: float | None = None

    def describe(self) -> str:
        """One sentence naming the limit and the figures."""
        if self.projected is None:
            return (
                f"usage limit {self.limit} exceeded: spent {self.spent:g}, allowed {self.allowed:g}"
            )
        return (
            f"usage limit {self.limit} would be exceeded: spent {self.spent:g}, the next step "
            f"could bring it to {self.projected:g}, allowed {self.allowed:g}"
        )


def estimate_request_tokens(context: Context) -> int:
    """The prompt tokens of ``context``, estimated as the caching transform estimates a prefix.

    One token per four characters of text, thinking, tool schemas and
    arguments (canonical JSON), a fixed count per image: an estimate, not the
    service's tokenizer.
    """
    return estimate_prefix_tokens(
        context, (MESSAGES, len(context.messages) - 1, sys.maxsize), sys.maxsize
    )


class Budget:
    """One run's limits and the checks against them."""

    __slots__ = ("clock", "limits", "max_tokens", "price", "started")

    def __init__(
        self,
        limits: UsageLimits,
        options: ModelOptions,
        clock: Callable[[], float],
        started: float,
    ) -> None:
        self.limits = limits
        self.max_tokens = options.max_tokens
        self.clock = clock
        self.started = started
        self.price: ModelInfo | None = None
        needs_max = [
            name
            for name in ("output_tokens", "total_tokens", "cost_usd")
            if getattr(limits, name) is not None
        ]
        if needs_max and self.max_tokens is None:
            raise UnenforceableLimitError(
                needs_max[0],
                f"the {needs_max[0]} limit needs ModelOptions.max_tokens (Agent.max_tokens): "
                "without it a request's output has no bound to check before the request",
            )
        if limits.cost_usd is not None:
            info = find_model(options.model)
            if info is None or info.input_price is None or info.output_price is None:
                raise UnenforceableLimitError(
                    "cost_usd",
                    f"the cost_usd limit needs the price of {options.model!r}, which agentkit "
                    "does not know: register it with agentkit._models.register_model",
                )
            self.price = info

    def elapsed(self) -> float:
        return self.clock() - self.started

    def _first_over(
        self, spent: dict[str, float], projected: dict[str, float] | None
    ) -> ExceededLimit | None:
        for name in LIMIT_NAMES:
            allowed = getattr(self.limits, name)
            if allowed is None or name not in spent:
                continue
            if projected is None:
                if spent[name] > allowed:
                    return ExceededLimit(name, allowed, spent[name])
            elif projected[name] > allowed:
                return ExceededLimit(name, allowed, spent[name], projected[name])
        return None

    def _cost(self, usage: Usage) -> float:
        """``usage.cost``; when unknown (a partial request, a served name without a
        price), its tokens at the prices the limit was checked with."""
        if usage.cost is not None:
            return usage.cost
        info = self.price
        if info is None:
            return 0.0  # no cost limit, nothing reads it
        return cost_from_prices(usage, info.key) or 0.0

    def _spent(self, usage: Usage, requests: int) -> dict[str, float]:
        return {
            "requests": requests,
            "input_tokens": usage.prompt,
            "output_tokens": usage.output,
            "total_tokens": usage.total,
            "cache_write_tokens": usage.cache_write,
            "cost_usd": self._cost(usage),
        }

    def before_request(self, context: Context, usage: Usage, requests: int) -> ExceededLimit | None:
        """The limit the next request could cross at most, given the spend so far."""
        spent = self._spent(usage, requests)
        prompt = estimate_request_tokens(context)
        output = self.max_tokens or 0
        projected = {
            "requests": requests + 1,
            "input_tokens": usage.prompt + prompt,
            "output_tokens": usage.output + output,
            "total_tokens": usage.total + prompt + output,
            "cache_write_tokens": usage.cache_write + prompt,
            "cost_usd": self._cost(usage) + self._worst_cost(prompt, output),
        }
        # Time is not projected: a request's duration has no bound to reserve.
        spent["seconds"] = projected["seconds"] = self.elapsed()
        return self._first_over(spent, projected)

    def after_response(self, usage: Usage, requests: int) -> ExceededLimit | None:
        """The limit the real spend has crossed, if any."""
        spent = self._spent(usage, requests)
        spent["seconds"] = self.elapsed()
        return self._first_over(spent, None)

    def admit_tool_calls(self, asked: int, started: int) -> tuple[int, ExceededLimit | None]:
        """How many of ``asked`` calls may start, given ``started`` so far, and the limit hit."""
        seconds = self.limits.seconds
        elapsed = self.elapsed()
        if seconds is not None and elapsed > seconds:
            return 0, ExceededLimit("seconds", seconds, elapsed)
        allowed = self.limits.tool_calls
        if allowed is None or started + asked <= allowed:
            return asked, None
        return max(allowed - started, 0), ExceededLimit(
            "tool_calls", allowed, started, started + asked
        )

    def _worst_cost(self, prompt: int, output: int) -> float:
        info = self.price
        if info is None:
            return 0.0
        assert info.input_price is not None
        assert info.output_price is not None
        # The dearest way to pay for input: every token written to a 1-hour cache.
        dearest = max(info.input_price, info.cache_write_5m_price or 0.0)
        dearest = max(dearest, info.cache_write_1h_price or 0.0)
        return (prompt * dearest + output * info.output_price) / 1_000_000
