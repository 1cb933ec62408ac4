"""The public surface: every exported name resolves, and nothing private leaks into it."""

from __future__ import annotations

import importlib

import pytest

import agentkit

PUBLIC_MODULES = [
    "agentkit",
    "agentkit.providers",
    "agentkit.transforms",
    "agentkit.testing",
]


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_names_resolve_and_are_public(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "no name exported twice"
    for attribute in exported:
        assert hasattr(module, attribute), f"{name}.{attribute} is in __all__ but missing"
        assert not attribute.startswith("_") or attribute == "__version__"


def test_the_core_is_reachable_from_the_top_level() -> None:
    for attribute in (
        "Agent",
        "agent_loop",
        "EventStream",
        "tool",
        "ProviderError",
        "OpenRouterProvider",
        "AnthropicProvider",
        "OpenAICompatibleProvider",
        "cache_breakpoints",
        "Usage",
        "Context",
        "UsageLimits",
        "UsageLimitExceeded",
        "ExceededLimit",
        "UnenforceableLimitError",
    ):
        assert attribute in agentkit.__all__


def test_every_exception_is_an_agentkit_error() -> None:
    for attribute in agentkit.__all__:
        value = getattr(agentkit, attribute)
        if isinstance(value, type) and issubclass(value, BaseException):
            assert issubclass(value, agentkit.AgentkitError), attribute
