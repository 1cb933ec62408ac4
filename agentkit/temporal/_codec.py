"""Plain-JSON forms of the run's values that cross the workflow boundary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

import agentkit
from agentkit._errors import AgentkitError, ProviderError, SerializationError
from agentkit._limits import ExceededLimit, UsageLimits
from agentkit._loop import RunResult
from agentkit._messages import StopReason, Usage, message_from_dict
from agentkit._output import NO_OUTPUT, TEXT_OUTPUT
from agentkit._pause import Approval, Paused, ResumeError
from agentkit._schema import to_jsonable, type_adapter
from agentkit.temporal._payloads import PayloadTooLargeError

__all__ = [
    "DurableRunError",
    "decisions_from_dict",
    "decisions_to_dict",
    "error_details",
    "rebuild_error",
    "exceeded_from_dict",
    "exceeded_to_dict",
    "limits_from_dict",
    "limits_to_dict",
    "result_from_dict",
    "result_to_dict",
]


def limits_to_dict(limits: UsageLimits | None) -> dict[str, Any] | None:
    return None if limits is None else attrs.asdict(limits)


def limits_from_dict(data: Mapping[str, Any] | None) -> UsageLimits | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise SerializationError("limits: expected an object")
    return UsageLimits(**data)


def exceeded_to_dict(exceeded: ExceededLimit | None) -> dict[str, Any] | None:
    return None if exceeded is None else attrs.asdict(exceeded)


def exceeded_from_dict(data: Mapping[str, Any] | None) -> ExceededLimit | None:
    return None if data is None else ExceededLimit(**data)


def _output_to_dict(value: Any) -> dict[str, Any] | None:
    if value is TEXT_OUTPUT:
        return {"kind": "text"}
    if value is NO_OUTPUT:
        return {"kind": "none"}
    return {"kind": "value", "value": to_jsonable(value)}


def _output_from_dict(data: Mapping[str, Any] | None, output_type: Any) -> Any:
    """The run's output again; with ``output_type`` a value of it, else its JSON data."""
    if data is None or data.get("kind") == "text":
        return TEXT_OUTPUT
    if data.get("kind") == "none":
        return NO_OUTPUT
    if data.get("kind") != "value":
        raise SerializationError(f"result.output: unknown kind {data.get('kind')!r}")
    if output_type is None:
        return data["value"]
    return type_adapter(output_type, "the output").validate_json_value(data["value"])


def result_to_dict(result: RunResult) -> dict[str, Any]:
    return {
        "output": _output_to_dict(result._output),
        "messages": [message.to_dict() for message in result.messages],
        "usage": result.usage.to_dict(),
        "stop_reason": result.stop_reason.value,
        "limit_exceeded": exceeded_to_dict(result.limit_exceeded),
        "paused": None if result.paused is None else result.paused.to_dict(),
    }


def result_from_dict(data: Mapping[str, Any], output_type: Any = None) -> RunResult:
    """A run's result read back; its output rebuilt as ``output_type`` when given."""
    return RunResult(
        tuple(message_from_dict(item) for item in data["messages"]),
        Usage.from_dict(data["usage"]),
        StopReason(data["stop_reason"]),
        exceeded_from_dict(data.get("limit_exceeded")),
        None if data.get("paused") is None else Paused.from_dict(data["paused"]),
        output=_output_from_dict(data.get("output"), output_type),
    )


def decisions_to_dict(decisions: object) -> dict[str, Any]:
    """Decisions as plain JSON; anything but a mapping of ids to Approvals is a ResumeError."""
    if not isinstance(decisions, Mapping):
        kind = type(decisions).__name__
        raise ResumeError(f"decisions must be a mapping of call ids, got {kind}")
    out: dict[str, Any] = {}
    for key, decision in decisions.items():
        if not isinstance(key, str) or not isinstance(decision, Approval):
            raise ResumeError(
                f"the decision for {key!r} must be an Approval, got {type(decision).__name__}"
            )
        out[key] = attrs.asdict(decision)
    return out


def decisions_from_dict(data: Any) -> dict[str, Approval]:
    """:func:`decisions_to_dict` read back; bad data is a ResumeError."""
    if not isinstance(data, Mapping):
        raise ResumeError(f"decisions must be an object, got {type(data).__name__}")
    out: dict[str, Approval] = {}
    for key, raw in data.items():
        if not isinstance(raw, Mapping) or set(raw) - {"kind", "reason", "arguments"}:
            raise ResumeError(f"the decision for {key!r} is not an Approval")
        try:
            out[str(key)] = Approval(**raw)
        except (TypeError, ValueError) as exc:
            raise ResumeError(f"the decision for {key!r} is not an Approval: {exc}") from None
    return out


class DurableRunError(AgentkitError):
    """A durable run failed with an error that cannot be rebuilt as itself.

    ``error_type`` names the exception that ended it (``RunError``,
    ``UnknownAgent``, ...). ``messages`` and ``usage`` are what the run
    completed and spent before, as for every error that ends a run.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def error_details(exc: AgentkitError) -> dict[str, Any]:
    """What crosses the boundary with an error besides its type and message."""
    if isinstance(exc, PayloadTooLargeError):
        return {"what": exc.what, "size": exc.size, "limit": exc.limit}
    if isinstance(exc, ProviderError):
        return {
            "message": exc.message,
            "status": exc.status,
            "request_id": exc.request_id,
            "retryable": exc.retryable,
            "retry_after": exc.retry_after,
        }
    return {}


def rebuild_error(type_name: str | None, message: str, details: Mapping[str, Any]) -> AgentkitError:
    """The agentkit exception named ``type_name`` again, or :class:`DurableRunError`.

    Only the exceptions whose constructor is the plain one (a message, and for
    provider errors their HTTP details) are rebuilt; the others would need
    what did not cross the boundary.
    """
    name = type_name or "Error"
    found = getattr(agentkit, name, None) if name in agentkit.__all__ else None
    if isinstance(found, type) and issubclass(found, ProviderError):
        if found.__init__ is ProviderError.__init__:
            return found(
                str(details.get("message", message)),
                status=details.get("status"),
                request_id=details.get("request_id"),
                retryable=bool(details.get("retryable", False)),
                retry_after=details.get("retry_after"),
            )
    elif (
        isinstance(found, type)
        and issubclass(found, AgentkitError)
        and found.__init__ is AgentkitError.__init__
    ):
        return found(message)
    return DurableRunError(name, message)
