"""Typed output runs durably: the value crosses the boundary and comes back as its type."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import anyio
import attrs
import pytest
from temporalio.client import Client

from agentkit import Agent, Context, ModelOptions, StopReason, tool
from agentkit.temporal import DurableAgent, DurableRun, create_worker, start_run
from agentkit.testing import Reply, ScriptedProvider, call
from tests.temporal.agents import tool_results
from tests.temporal.test_durable import replay

pydantic = pytest.importorskip("pydantic")

pytestmark = pytest.mark.anyio


@attrs.define(frozen=True)
class Place:
    city: str
    country: str


@dataclasses.dataclass(frozen=True)
class Forecast:
    place: Place
    high: int
    summary: str


class Verdict(pydantic.BaseModel):  # type: ignore[misc, name-defined]
    approved: bool
    reasons: list[str]


def forecast_policy(context: Context, options: ModelOptions) -> Reply:
    results = tool_results(context)
    if not results:
        return Reply(tool_calls=[call("high_of", city="Oslo")])
    data = {
        "place": {"city": "Oslo", "country": "NO"},
        "high": int(results[0].text),
        "summary": "cold",
    }
    return Reply(tool_calls=[call("final_result", **data)])


class Forecaster(Agent[Forecast]):
    """Tool mode: the model calls ``final_result`` after a real tool."""

    model = "scripted-model"

    def __init__(self, **options: Any) -> None:
        options.setdefault("provider", ScriptedProvider(forecast_policy))
        super().__init__(**options)

    @tool
    def high_of(self, city: str) -> int:
        """Today's high in a city."""
        return len(city) - 7


def verdict_policy(context: Context, options: ModelOptions) -> Reply:
    if options.output_schema is None:  # the schema did not reach the model call
        return Reply(text="no schema was sent")
    return Reply(text='{"approved": true, "reasons": ["complete", "signed"]}')


class Reviewer(Agent[Verdict]):
    """Native mode: the service is given the schema (it must reach the model activity)."""

    model = "scripted-model"
    output_mode = "native"
    output_retries = 0

    def __init__(self, **options: Any) -> None:
        options.setdefault("provider", ScriptedProvider(verdict_policy))
        super().__init__(**options)


@pytest.mark.parametrize("agent", [Forecaster, Reviewer], ids=lambda a: a.__name__)
async def test_typed_output_comes_back_as_its_type_as_in_process(
    temporal_address: str, agent: type[Agent[Any]]
) -> None:
    with anyio.fail_after(40):
        reference = await agent().run("Go.")
        client = await Client.connect(temporal_address)
        task_queue = f"output-{uuid.uuid4().hex[:12]}"
        spec = DurableAgent(agent)
        async with create_worker(client, task_queue, [spec]):
            run = await start_run(
                client,
                spec,
                "Go.",
                id=f"output-{uuid.uuid4().hex}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=20),
            )
            result = await run.result()
            untyped = await DurableRun(run.handle).result()
        await replay(run.handle, task_queue, [spec])
    assert result.stop_reason is StopReason.STOP
    assert type(result.output) is agent.output_type
    assert result.output == reference.output
    assert result.messages == reference.messages
    # A client that does not know the type gets the output's JSON data.
    assert untyped.output == EXPECTED_JSON[agent.__name__]


EXPECTED_JSON = {
    "Forecaster": {"place": {"city": "Oslo", "country": "NO"}, "high": -3, "summary": "cold"},
    "Reviewer": {"approved": True, "reasons": ["complete", "signed"]},
}
