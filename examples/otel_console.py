"""OpenTelemetry traces and metrics of an agent run, printed to the console.

    python examples/otel_console.py

The application owns the OpenTelemetry SDK: it sets up a tracer provider
with the console exporter (one line a span, with a compact formatter) and a
meter provider, then turns agentkit's instrumentation on with one call. The
agent calls two tools in parallel on the scripted provider, so no API key or
network is needed. Needs ``pip install 'agentkit-loop[otel]' opentelemetry-sdk``.
"""

from __future__ import annotations

import anyio
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import agentkit.otel
from agentkit import Agent, Usage, tool
from agentkit.testing import Reply, ScriptedProvider, call

SHOWN = (
    "gen_ai.request.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.tool.call.id",
    "agentkit.stop_reason",
    "agentkit.usage.cost",
)


def one_line(span: ReadableSpan) -> str:
    """The span, its parent and a few attributes (the default formatter prints JSON)."""
    assert span.context is not None
    parent = f"{span.parent.span_id:016x}" if span.parent else "-" * 16
    fields = " ".join(f"{k}={span.attributes[k]!r}" for k in SHOWN if k in (span.attributes or {}))
    return (
        f"span {span.context.span_id:016x} parent {parent} {span.name:<24} {fields}".rstrip() + "\n"
    )


class Weather(Agent):
    model = "scripted-model"
    system_prompt = "You report the weather."

    @tool
    async def forecast(self, city: str) -> str:
        """The forecast for a city."""
        return f"Sunny in {city}."

    @tool
    async def humidity(self, city: str) -> str:
        """The humidity in a city."""
        # The execute_tool span is current here: the tool's own spans nest under it.
        with trace.get_tracer("weather-service").start_as_current_span("humidity.lookup"):
            return "40%"


async def main() -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=one_line)))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    agentkit.otel.instrument(meter_provider=MeterProvider(metric_readers=[reader]))

    provider = ScriptedProvider(
        [
            Reply(
                tool_calls=[call("forecast", city="Paris"), call("humidity", city="Paris")],
                usage=Usage(input=120, output=30, cache_write=2048, cost=0.0095),
            ),
            Reply(
                "Sunny in Paris, 40% humidity.",
                usage=Usage(input=60, output=12, cache_read=2048, cost=0.0009),
            ),
        ]
    )
    with trace.get_tracer("my-app").start_as_current_span("handle_request"):
        result = await Weather(provider=provider).run("Weather in Paris?")
    print(f"answer: {result.text}")

    data = reader.get_metrics_data()
    assert data is not None
    for metric in data.resource_metrics[0].scope_metrics[0].metrics:
        for point in metric.data.data_points:
            kind = point.attributes.get("gen_ai.token.type", "") if point.attributes else ""
            label = f"{metric.name}{f' ({kind})' if kind else ''}"
            print(f"metric {label}: count={point.count} sum={point.sum:g}")  # type: ignore[union-attr]
    agentkit.otel.uninstrument()


if __name__ == "__main__":
    anyio.run(main)
