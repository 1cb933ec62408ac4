"""Every gen_ai.* name agentkit emits is one the semantic conventions define."""

from __future__ import annotations

import anyio
import pytest
from opentelemetry.semconv._incubating.attributes import error_attributes, gen_ai_attributes
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

from agentkit.otel import _names

from .conftest import Telemetry
from .test_spans import Weather, weather_script


def defined(module: object) -> set[str]:
    return {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str)}


KNOWN = defined(gen_ai_attributes) | defined(gen_ai_metrics) | defined(error_attributes)


def test_every_convention_name_is_defined() -> None:
    ours = {v for k, v in vars(_names).items() if k.isupper() and isinstance(v, str)}
    conventional = {v for v in ours if v.startswith(("gen_ai.", "error."))}
    assert len(conventional) > 30
    assert conventional - KNOWN == set()
    values = [g.value for g in gen_ai_attributes.GenAiOperationNameValues]
    assert {_names.CHAT, _names.INVOKE_AGENT, _names.EXECUTE_TOOL} <= set(values)


@pytest.mark.anyio
async def test_every_emitted_attribute_is_defined_or_agentkits(capturing: Telemetry) -> None:
    with anyio.fail_after(10):
        await Weather(provider=weather_script()).run("Weather?")
    emitted = {key for span in capturing.spans() for key in span.attributes or {}}
    emitted |= set(capturing.histograms())
    assert {k for k in emitted if not k.startswith("agentkit.")} - KNOWN == set()
    assert "gen_ai.usage.cache_read.input_tokens" in emitted
