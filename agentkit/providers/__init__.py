"""Model providers: the protocol a provider implements, the HTTP providers, their errors."""

from agentkit._errors import ProviderError
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
    StreamStalledError,
)
from agentkit.providers._http import RetryPolicy, Timeouts
from agentkit.providers._openai_compat import OpenAICompatibleProvider
from agentkit.providers._openrouter import OpenRouterProvider

__all__ = [
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
