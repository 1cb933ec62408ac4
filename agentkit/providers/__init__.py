"""Model providers: the protocol, and the HTTP providers that implement it."""

from agentkit.providers.base import (
    AssistantMessageBuilder,
    AssistantStream,
    ModelOptions,
    Provider,
    ReasoningOptions,
)

__all__ = [
    "AssistantMessageBuilder",
    "AssistantStream",
    "ModelOptions",
    "Provider",
    "ReasoningOptions",
]
