"""What agentkit knows about models: prices, caching rules and context windows.

The built-in table covers Anthropic's Claude models (sources: Anthropic's
pricing and prompt-caching pages, 2026-09). :func:`find_model` recognises a
model however it is named: ``claude-opus-4-6``, ``anthropic/claude-opus-4.6``,
OpenRouter's served ``anthropic/claude-4.6-opus-20260101``, with or without a
date. Register your own with :func:`register_model`; a registered entry wins
over the built-in one.
"""

from __future__ import annotations

import re

import attrs
from attrs import define

__all__ = ["ModelInfo", "find_model", "model_key", "register_model", "registered_models"]

# Anthropic's cache multipliers of the base input price.
CACHE_READ_MULTIPLIER = 0.1
CACHE_WRITE_5M_MULTIPLIER = 1.25
CACHE_WRITE_1H_MULTIPLIER = 2.0


@define(frozen=True, slots=True)
class ModelInfo:
    """Facts about one model. Prices are US dollars per million tokens; None when unknown.

    ``explicit_cache_breakpoints`` is true for models that cache only at
    ``cache_control`` markers (Claude); ``min_cacheable_tokens`` is the
    shortest prefix such a model will cache.
    """

    key: str
    input_price: float | None = None
    output_price: float | None = None
    context_window: int | None = None
    min_cacheable_tokens: int = 0
    explicit_cache_breakpoints: bool = False

    @property
    def cache_read_price(self) -> float | None:
        return None if self.input_price is None else self.input_price * CACHE_READ_MULTIPLIER

    @property
    def cache_write_5m_price(self) -> float | None:
        return None if self.input_price is None else self.input_price * CACHE_WRITE_5M_MULTIPLIER

    @property
    def cache_write_1h_price(self) -> float | None:
        return None if self.input_price is None else self.input_price * CACHE_WRITE_1H_MULTIPLIER


def _claude(
    key: str, price_in: float | None, price_out: float | None, minimum: int, window: int = 200_000
) -> ModelInfo:
    return ModelInfo(key, price_in, price_out, window, minimum, explicit_cache_breakpoints=True)


_BUILTIN: dict[str, ModelInfo] = {
    m.key: m
    for m in (
        _claude("claude-opus-5", None, None, 512),
        _claude("claude-fable-5", None, None, 512),
        _claude("claude-fable-5.1", None, None, 512),
        _claude("claude-mythos-5", None, None, 512),
        _claude("claude-mythos-5.1", None, None, 512),
        _claude("claude-opus-4.8", None, None, 1024),
        _claude("claude-opus-4.7", 5.0, 25.0, 2048),
        _claude("claude-opus-4.6", 5.0, 25.0, 4096),
        _claude("claude-opus-4.5", 5.0, 25.0, 4096),
        _claude("claude-opus-4.1", 15.0, 75.0, 1024),
        _claude("claude-opus-4", 15.0, 75.0, 1024),
        _claude("claude-sonnet-4.6", 3.0, 15.0, 1024),
        _claude("claude-sonnet-4.5", 3.0, 15.0, 1024),
        _claude("claude-sonnet-4", 3.0, 15.0, 1024),
        _claude("claude-sonnet-3.7", 3.0, 15.0, 1024),
        _claude("claude-haiku-4.5", 1.0, 5.0, 4096),
        _claude("claude-haiku-3.5", 0.8, 4.0, 2048),
        _claude("claude-haiku-3", 0.25, 1.25, 2048),
    )
}
_REGISTERED: dict[str, ModelInfo] = {}

_FAMILY = re.compile(r"(opus|sonnet|haiku|fable|mythos)")
_NUMBER = re.compile(r"(?<![0-9])([0-9]{1,2})(?![0-9])")


def model_key(name: str) -> str:
    """The canonical key of a model name: ``claude-<family>-<version>``, or the name lowered.

    Provider prefixes (``anthropic/``), dates, ``:variants`` and the order of
    family and version are ignored, so every spelling of a model meets.
    """
    lowered = name.lower().rsplit("/", 1)[-1].split(":", 1)[0]
    family = _FAMILY.search(lowered)
    if "claude" not in lowered or family is None:
        return lowered
    # Dates and Bedrock's "-v1" revision suffix are not versions of the model.
    without_dates = re.sub(r"[0-9]{6,}|-v[0-9]+\b", "", lowered)
    version = ".".join(_NUMBER.findall(without_dates))
    return f"claude-{family.group(1)}-{version}" if version else f"claude-{family.group(1)}"


def register_model(info: ModelInfo) -> None:
    """Add or replace a model; ``info.key`` may be any spelling of its name."""
    key = model_key(info.key)
    _REGISTERED[key] = attrs.evolve(info, key=key)


def find_model(name: str) -> ModelInfo | None:
    """The facts known about ``name``, or None for a model agentkit does not know."""
    key = model_key(name)
    return _REGISTERED.get(key) or _BUILTIN.get(key)


def registered_models() -> tuple[ModelInfo, ...]:
    """Every known model, registered entries first."""
    merged = {**_BUILTIN, **_REGISTERED}
    return tuple(sorted(merged.values(), key=lambda m: m.key))
