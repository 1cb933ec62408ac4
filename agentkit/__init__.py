"""agentkit: a small, strict async agent-loop framework.

The loop (:func:`agent_loop`), its event stream (:class:`EventStream`), the
stateful :class:`Agent`, context transforms and model providers.
"""

from agentkit.agent import Agent, AgentState
from agentkit.errors import (
    AgentBusyError,
    AgentkitError,
    ProducerExitedError,
    ProviderError,
    RunError,
    SerializationError,
    StreamCancelledError,
    StreamClosedError,
    StreamError,
    ToolDefinitionError,
)
from agentkit.events import (
    AgentEnd,
    AgentEvent,
    AgentStart,
    AssistantDelta,
    AssistantEvent,
    BlockEnd,
    MessageEnd,
    MessageStart,
    MessageUpdate,
    StreamStart,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolExecutionUpdate,
    TurnEnd,
    TurnStart,
)
from agentkit.loop import AbortSignal, LoopConfig, RunResult, RunStream, agent_loop
from agentkit.messages import (
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
    Usage,
    UserMessage,
    message_from_dict,
)
from agentkit.models import ModelInfo, find_model, register_model
from agentkit.providers.base import (
    AssistantMessageBuilder,
    ModelOptions,
    Provider,
    ReasoningOptions,
)
from agentkit.stream import EventStream
from agentkit.tool_execution import ToolCallDecision
from agentkit.tools import Tool, ToolContext, ToolOutputError, ToolResult, collect_tools, tool
from agentkit.transforms import (
    CacheBreakpoints,
    CacheMarkerError,
    Pipeline,
    Transform,
    TransformInfo,
    cache_breakpoints,
    count_breakpoints,
)

__version__ = "0.1.0.dev0"

__all__ = [
    # the loop, the stream, the agent
    "AbortSignal",
    "Agent",
    "AgentState",
    "EventStream",
    "LoopConfig",
    "RunResult",
    "RunStream",
    "agent_loop",
    # tools
    "Tool",
    "ToolCallDecision",
    "ToolContext",
    "ToolOutputError",
    "ToolResult",
    "collect_tools",
    "tool",
    # messages and context
    "AssistantMessage",
    "CacheControl",
    "Context",
    "ImageContent",
    "Message",
    "StopReason",
    "TextContent",
    "ThinkingContent",
    "ToolCall",
    "ToolDefinition",
    "ToolResultMessage",
    "Usage",
    "UserMessage",
    "message_from_dict",
    # events
    "AgentEnd",
    "AgentEvent",
    "AgentStart",
    "AssistantDelta",
    "AssistantEvent",
    "BlockEnd",
    "MessageEnd",
    "MessageStart",
    "MessageUpdate",
    "StreamStart",
    "TextDelta",
    "ThinkingDelta",
    "ToolCallDelta",
    "ToolCallStart",
    "ToolExecutionEnd",
    "ToolExecutionStart",
    "ToolExecutionUpdate",
    "TurnEnd",
    "TurnStart",
    # transforms
    "CacheBreakpoints",
    "CacheMarkerError",
    "cache_breakpoints",
    "count_breakpoints",
    "Pipeline",
    "Transform",
    "TransformInfo",
    # providers and models
    "AssistantMessageBuilder",
    "ModelInfo",
    "ModelOptions",
    "Provider",
    "ReasoningOptions",
    "find_model",
    "register_model",
    # errors
    "AgentBusyError",
    "AgentkitError",
    "ProducerExitedError",
    "ProviderError",
    "RunError",
    "SerializationError",
    "StreamCancelledError",
    "StreamClosedError",
    "StreamError",
    "ToolDefinitionError",
    "__version__",
]
