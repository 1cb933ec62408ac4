"""OpenTelemetry traces and metrics for agentkit runs (the ``otel`` extra).

Turn it on once, after the application has set up its tracer and meter
providers::

    import agentkit.otel

    agentkit.otel.instrument()

Every run from then on (an :class:`~agentkit.Agent`'s or a bare
:func:`~agentkit.agent_loop`'s) produces spans following the OpenTelemetry
GenAI semantic conventions v1.41.0: ``invoke_agent {agent}`` for the run,
``chat {model}`` per model request and ``execute_tool {name}`` per tool call,
and the ``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration`` and
``gen_ai.client.operation.time_to_first_chunk`` histograms. Content (prompts,
answers, tool arguments and results) is recorded only with
``capture_content=True``, each value cut to ``max_content_length`` characters.
API keys are never recorded. Guide: ``docs/guides/opentelemetry.md``.

This package needs ``opentelemetry-api`` only; the SDK and its exporters are
the application's choice. Importing :mod:`agentkit` never imports it.
"""

from __future__ import annotations

import agentkit
from agentkit._instrumentation import install

try:
    from opentelemetry import metrics, trace
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the wheel smoke test
    raise ModuleNotFoundError(
        "agentkit.otel needs opentelemetry-api: pip install 'agentkit-loop[otel]'",
        name=exc.name,
    ) from exc

from agentkit.otel._tracing import Settings, Tracing

__all__ = ["instrument", "uninstrument"]

_SCOPE = "agentkit"


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    capture_content: bool = False,
    max_content_length: int = 8192,
) -> None:
    """Record every run from now on; calling it again replaces the settings.

    The providers default to OpenTelemetry's global ones (as set by
    ``trace.set_tracer_provider``). ``capture_content`` adds prompts, answers,
    system instructions, tool arguments and results to the spans, each value
    at most ``max_content_length`` characters (at least 64).
    """
    if not isinstance(capture_content, bool):
        raise TypeError(f"capture_content must be a bool, got {capture_content!r}")
    if isinstance(max_content_length, bool) or not isinstance(max_content_length, int):
        raise TypeError(f"max_content_length must be an int, got {max_content_length!r}")
    if max_content_length < 64:
        raise ValueError(f"max_content_length must be at least 64, got {max_content_length}")
    settings = Settings(
        tracer=trace.get_tracer(_SCOPE, agentkit.__version__, tracer_provider),
        meter=metrics.get_meter(_SCOPE, agentkit.__version__, meter_provider),
        capture_content=capture_content,
        max_content_length=max_content_length,
    )
    install(Tracing(settings))


def uninstrument() -> None:
    """Stop recording: runs started from now on create no span and no metric."""
    install(None)
