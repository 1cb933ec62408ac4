"""A real OpenTelemetry SDK with in-memory exporters, instrumented for one test."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from attrs import define
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import agentkit.otel


@define
class Telemetry:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.name.startswith(prefix)]

    def one(self, prefix: str) -> ReadableSpan:
        found = self.named(prefix)
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def histograms(self) -> dict[str, list[tuple[dict[str, object], int, float]]]:
        """Each metric's points: (attributes, count, sum)."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[tuple[dict[str, object], int, float]]] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        found.setdefault(metric.name, []).append(
                            (dict(point.attributes or {}), point.count, point.sum)  # type: ignore[union-attr]
                        )
        return found

    def dump(self) -> str:
        """Every exported span and metric as text, for grepping."""
        parts = [span.to_json() for span in self.spans()]
        data = self.reader.get_metrics_data()
        if data is not None:
            parts.append(data.to_json())
        return "\n".join(parts)


def make_telemetry(**options: object) -> Telemetry:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    agentkit.otel.instrument(
        tracer_provider=provider,
        meter_provider=MeterProvider(metric_readers=[reader]),
        **options,  # type: ignore[arg-type]
    )
    return Telemetry(exporter, reader, provider)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    yield make_telemetry()
    agentkit.otel.uninstrument()


@pytest.fixture
def capturing() -> Iterator[Telemetry]:
    yield make_telemetry(capture_content=True, max_content_length=256)
    agentkit.otel.uninstrument()


@pytest.fixture(autouse=True)
def _sdk_complaints(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    # The SDK logs (never raises) when a span is ended twice, changed after its
    # end, or a context is detached out of order: each is a bug here.
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    complaints = [r.getMessage() for r in records if r.name.startswith("opentelemetry")]
    assert complaints == []
