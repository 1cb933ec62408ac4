"""Model providers: the protocol, and the HTTP providers that implement it."""

from agentkit.providers._anthropic import AnthropicProvider
from agentkit.providers._base import (
    AssistantMessageBuilder,
    AssistantStream,
    ModelOptions,
    Provider,
    ReasoningOptions,
)
from agentkit.providers._errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    InsufficientCreditsError,
    MidStreamError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderConnectionError,
    RateLimitError,
    RedirectError,
    ResponseFormatError,
    ServerError,
    SSEDecodeError,
    StreamStalledError,
)
from agentkit.providers._http import RetryPolicy, Timeouts
from agentkit.providers._openai_compat import OpenAICompatibleProvider
from agentkit.providers._openrouter import OpenRouterProvider
from agentkit.providers._sse import ServerSentEvent, SSEDecoder

__all__ = [
    "AnthropicProvider",
    "AssistantMessageBuilder",
    "AssistantStream",
    "AuthenticationError",
    "BadRequestError",
    "ContextLengthExceededError",
    "InsufficientCreditsError",
    "MidStreamError",
    "ModelOptions",
    "NotFoundError",
    "OpenAICompatibleProvider",
    "OpenRouterProvider",
    "OverloadedError",
    "PermissionDeniedError",
    "Provider",
    "ProviderConnectionError",
    "RateLimitError",
    "ReasoningOptions",
    "RedirectError",
    "ResponseFormatError",
    "RetryPolicy",
    "SSEDecodeError",
    "SSEDecoder",
    "ServerError",
    "ServerSentEvent",
    "StreamStalledError",
    "Timeouts",
]
