"""The exceptions agentkit raises.

Hierarchy::

    AgentkitError
    ├── SerializationError        bad input to a ``from_dict``
    ├── ToolDefinitionError       a tool whose schema cannot be built or is invalid
    ├── ToolOutputError           a tool returned something that cannot go to the model
    ├── AgentBusyError            a second run started while one is active
    ├── StreamError
    │   ├── StreamClosedError     push after the stream ended or its consumer left
    │   ├── StreamCancelledError  the producer was cancelled from outside
    │   └── ProducerExitedError   the producer returned without ending the stream
    ├── RunError                  user code failed inside a run (``stage`` names where)
    ├── UsageLimitExceeded        a run hit one of its ``UsageLimits``
    ├── UnenforceableLimitError   a usage limit the run cannot check (no max_tokens, no price)
    ├── OutputError               a run has no output (``RunResult.output`` after a stop)
    │   ├── OutputValidationError the model's output stayed invalid past its retries
    │   └── UnsupportedOutputError an output type, mode or provider that cannot work
    └── ProviderError             a model provider failed (see ``agentkit.providers``)

Every error that ends a run carries the messages the run completed before it
(``messages``) and the usage spent so far (``usage``), so nothing is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentkit._limits import ExceededLimit
    from agentkit._messages import Message, Usage

__all__ = [
    "AgentBusyError",
    "AgentkitError",
    "CompactionError",
    "OutputError",
    "OutputValidationError",
    "ProducerExitedError",
    "ProviderError",
    "RunError",
    "SerializationError",
    "StreamCancelledError",
    "StreamClosedError",
    "StreamError",
    "ToolDefinitionError",
    "UnenforceableLimitError",
    "UnsupportedOutputError",
    "UsageLimitExceeded",
]


class AgentkitError(Exception):
    """Base of every agentkit exception.

    ``messages`` and ``usage`` are filled in by the loop when the error ends a
    run: the messages completed before the failure and the usage spent.
    """

    messages: tuple[Message, ...] = ()
    usage: Usage | None = None

    def _attach_partial(self, messages: tuple[Message, ...], usage: Usage) -> None:
        self.messages = messages
        self.usage = usage


class SerializationError(AgentkitError, ValueError):
    """A plain-JSON value could not be turned back into an agentkit type."""


class ToolDefinitionError(AgentkitError, TypeError):
    """A tool could not be defined: unsupported annotation or invalid schema."""


class AgentBusyError(AgentkitError, RuntimeError):
    """The agent is already running; wait for it, steer it or abort it."""


class StreamError(AgentkitError):
    """Misuse or failure of an :class:`~agentkit.EventStream`."""


class StreamClosedError(StreamError):
    """The stream has ended, or its consumer has gone; nothing more can be pushed."""


class StreamCancelledError(StreamError):
    """The producer was cancelled by something other than the consumer."""


class ProducerExitedError(StreamError):
    """The producer finished without calling ``end()`` or ``set_exception()``."""


class RunError(AgentkitError):
    """User code (a hook, a transform, a listener) raised inside a run.

    ``stage`` names the place (``"transform"``, ``"before_tool_call"``, ...);
    the original exception is ``__cause__``.
    """

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage} raised {type(cause).__name__}: {cause}")
        self.stage = stage
        self.__cause__ = cause


class CompactionError(AgentkitError):
    """A compaction transform could not bring the request under its threshold.

    ``tokens`` is what the request still counts after compacting all it may;
    ``threshold`` is the count it had to get under. Raised instead of sending a
    request the model's window would refuse, or compacting again and again.
    """

    def __init__(self, tokens: int, threshold: int, detail: str = "") -> None:
        tail = f": {detail}" if detail else ""
        super().__init__(
            f"compaction left {tokens} tokens, over the threshold of {threshold}{tail}"
        )
        self.tokens = tokens
        self.threshold = threshold


class UsageLimitExceeded(AgentkitError):
    """A run hit one of its :class:`~agentkit.UsageLimits` (with ``on_exceed="raise"``).

    ``limit`` names the field, ``allowed`` is its value, ``spent`` what the run
    had spent of it, ``projected`` what the next request or tool batch could
    have brought it to when the check was made before it (None when the real
    spend crossed the limit). ``exceeded`` is the same as a value.
    """

    def __init__(self, exceeded: ExceededLimit) -> None:
        super().__init__(exceeded.describe())
        self.exceeded = exceeded
        self.limit = exceeded.limit
        self.allowed = exceeded.allowed
        self.spent = exceeded.spent
        self.projected = exceeded.projected


class UnenforceableLimitError(AgentkitError, ValueError):
    """A usage limit the run cannot check, found before any request.

    An output, total or cost limit needs ``max_tokens`` (the bound of a
    request's output); a cost limit needs the model's price. ``limit`` names
    the field.
    """

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class OutputError(AgentkitError):
    """A run has no typed output: raised by ``RunResult.output`` when the run stopped without one.

    Its subclasses are raised by the run itself.
    """


class OutputValidationError(OutputError):
    """The model's output was still invalid after ``output_retries`` retries.

    ``problem`` is the last validation message (what the model was told),
    ``attempts`` how many answers were rejected; ``messages`` holds the run's
    messages so far, every rejected answer and the feedback it got included.
    """

    def __init__(self, problem: str, attempts: int) -> None:
        super().__init__(
            f"the model gave invalid output {attempts} time(s), more than its retries "
            f"allow; the last problem: {problem}"
        )
        self.problem = problem
        self.attempts = attempts


class UnsupportedOutputError(OutputError, ValueError):
    """An output type or mode that cannot work, found before any request.

    A type with no JSON schema, a tool name taken by another tool, or the
    ``"native"`` mode with a provider or model that has no native structured output.
    """


class ProviderError(AgentkitError):
    """A model provider failed: an HTTP error, a mid-stream error or bad data.

    ``status`` is the HTTP status when there was one, ``request_id`` the
    service's id for the request, ``retryable`` whether trying again may help.
    ``request_usage`` is what the service had counted for the failed request
    when it failed after answering (``Usage.partial`` set; None when the
    request failed before any answer); a run adds it to its usage.
    """

    request_usage: Usage | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.retryable = retryable
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status!r}, "
            f"request_id={self.request_id!r})"
        )
