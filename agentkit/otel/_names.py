"""Attribute, metric and span names: the OpenTelemetry GenAI semantic conventions v1.41.0.

The ``gen_ai.*`` names are those of ``opentelemetry-semantic-conventions``
0.66b2 (the conventions have since moved to their own repository,
``semantic-conventions-genai``, unchanged); ``agentkit.*`` names are this
library's own, for what the conventions do not name.
"""

from __future__ import annotations

SEMCONV_VERSION = "1.41.0"

# Operations (gen_ai.operation.name) and span names.
INVOKE_AGENT = "invoke_agent"
CHAT = "chat"
EXECUTE_TOOL = "execute_tool"

OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
AGENT_NAME = "gen_ai.agent.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
REQUEST_STREAM = "gen_ai.request.stream"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_DESCRIPTION = "gen_ai.tool.description"
ERROR_TYPE = "error.type"

# Content, captured only when asked for (opt-in in the conventions too).
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"

# Metrics.
TOKEN_USAGE = "gen_ai.client.token.usage"
OPERATION_DURATION = "gen_ai.client.operation.duration"
TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"

# agentkit's own.
RUN_ID = "agentkit.run.id"
TURN = "agentkit.turn"
TURNS = "agentkit.turns"
STOP_REASON = "agentkit.stop_reason"
USAGE_COST = "agentkit.usage.cost"
USAGE_LIMIT = "agentkit.usage_limit"
CANCELLED = "agentkit.cancelled"

# error.type values other than an exception's class name.
TOOL_ERROR = "tool_error"  # the tool's result is an error (unknown tool, bad arguments, ...)
ERROR_CANCELLED = "cancelled"  # cancelled while running (its timeout, or an abort)

# The buckets the conventions advise, for seconds and for token counts.
DURATION_BUCKETS = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS = tuple(4**n for n in range(14))
