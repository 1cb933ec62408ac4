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
    "agentkit.testing.strategies",
    "agentkit.testing.emulator",
    "agentkit.mcp",
    "agentkit.otel",
    "agentkit.temporal",
]

# The library's surface (agentkit, agentkit.providers, agentkit.transforms) as
# one set: an addition or removal must be made here on purpose, and the
# CHANGELOG must say it. agentkit.providers and agentkit.transforms only group
# names that agentkit itself exports.
LIBRARY_SURFACE = frozenset(
    [
        "Agent",
        "AgentState",
        "agent_loop",
        "LoopConfig",
        "RunResult",
        "RunStream",
        "EventStream",
        "AbortSignal",
        "UsageLimits",
        "ExceededLimit",
        "KeepWarm",
        "Paused",
        "Approval",
        "ResumeError",
        "OutputError",
        "OutputValidationError",
        "UnsupportedOutputError",
        "tool",
        "Tool",
        "ToolContext",
        "ToolResult",
        "ToolCallDecision",
        "collect_tools",
        "configure_tool_threads",
        "ToolThreadLimits",
        "Message",
        "UserMessage",
        "AssistantMessage",
        "ToolResultMessage",
        "TextContent",
        "ImageContent",
        "ThinkingContent",
        "ToolCall",
        "ToolDefinition",
        "Context",
        "CacheControl",
        "Usage",
        "StopReason",
        "message_from_dict",
        "AgentEvent",
        "AgentStart",
        "AgentEnd",
        "TurnStart",
        "TurnEnd",
        "MessageStart",
        "MessageUpdate",
        "MessageEnd",
        "ToolExecutionStart",
        "ToolExecutionUpdate",
        "ToolExecutionEnd",
        "AssistantEvent",
        "StreamStart",
        "TextDelta",
        "ThinkingDelta",
        "ToolCallStart",
        "ToolCallDelta",
        "BlockEnd",
        "Transform",
        "TransformInfo",
        "Pipeline",
        "CacheBreakpoints",
        "ClearToolResults",
        "Provider",
        "AssistantStream",
        "AssistantMessageBuilder",
        "AnthropicProvider",
        "OpenRouterProvider",
        "OpenAICompatibleProvider",
        "ModelOptions",
        "ReasoningOptions",
        "RetryPolicy",
        "Timeouts",
        "ModelInfo",
        "find_model",
        "register_model",
        "AgentkitError",
        "AgentBusyError",
        "RunError",
        "StreamError",
        "StreamCancelledError",
        "StreamClosedError",
        "ProducerExitedError",
        "SerializationError",
        "InvalidValueError",
        "ToolDefinitionError",
        "ToolOutputError",
        "ToolThreadLimitError",
        "UsageLimitExceeded",
        "UnenforceableLimitError",
        "CacheMarkerError",
        "CompactionError",
        "ProviderError",
        "AuthenticationError",
        "PermissionDeniedError",
        "InsufficientCreditsError",
        "NotFoundError",
        "BadRequestError",
        "ContextLengthExceededError",
        "RateLimitError",
        "OverloadedError",
        "ServerError",
        "ProviderConnectionError",
        "RedirectError",
        "StreamStalledError",
        "MidStreamError",
        "ResponseFormatError",
    ]
)


def test_the_library_surface_is_exactly_the_intended_names() -> None:
    exported: set[str] = set(agentkit.__all__) - {"__version__"}
    for name in ("agentkit.providers", "agentkit.transforms"):
        module = importlib.import_module(name)
        assert set(module.__all__) <= exported, f"{name} exports a name agentkit does not"
    assert exported - LIBRARY_SURFACE == set(), "added to the surface"
    assert LIBRARY_SURFACE - exported == set(), "removed from the surface"


def test_each_public_name_is_one_object_wherever_it_is_exported() -> None:
    for name in ("agentkit.providers", "agentkit.transforms"):
        module = importlib.import_module(name)
        for attribute in module.__all__:
            assert getattr(module, attribute) is getattr(agentkit, attribute), attribute


def test_no_implementation_module_is_public() -> None:
    import pkgutil

    public = [
        module.name
        for module in pkgutil.walk_packages(agentkit.__path__, "agentkit.")
        if not any(part.startswith("_") for part in module.name.split("."))
    ]
    # The command line is a program, not an API: its modules are documented by --help.
    assert sorted(n for n in public if not n.startswith("agentkit.cli")) == sorted(
        PUBLIC_MODULES[1:]
    )


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
        "CacheBreakpoints",
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
