"""Tool progress reports (ToolExecutionUpdate) reach DurableRun.events() while the tool runs."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import anyio
import pytest
from temporalio.client import Client

from agentkit import (
    Agent,
    AgentEvent,
    Context,
    ModelOptions,
    ToolContext,
    ToolExecutionEnd,
    ToolExecutionStart,
    ToolExecutionUpdate,
    tool,
)
from agentkit.temporal import DurableAgent, create_worker, start_run
from agentkit.testing import Reply, ScriptedProvider, call
from tests.temporal.agents import tool_results

pytestmark = pytest.mark.anyio


def policy(context: Context, options: ModelOptions) -> Reply:
    if not tool_results(context):
        return Reply(tool_calls=[call("crunch", size=3)])
    return Reply(text="crunched")


class Cruncher(Agent):
    model = "scripted-model"

    def __init__(self, **options: Any) -> None:
        options.setdefault("provider", ScriptedProvider(policy))
        super().__init__(**options)
        self.next_step = anyio.Event()
        self.release = anyio.Event()

    @tool
    async def crunch(self, size: int, context: ToolContext) -> str:
        """Crunch, reporting progress; waits for the test before it ends."""
        await context.report(f"step 1 of {size}")
        await self.next_step.wait()
        await context.report(f"step 2 of {size}")
        await self.release.wait()
        return "done"


async def test_tool_progress_arrives_live_between_the_tools_start_and_end(
    temporal_address: str,
) -> None:
    agent = Cruncher()
    client = await Client.connect(temporal_address)
    task_queue = f"progress-{uuid.uuid4().hex[:12]}"
    spec = DurableAgent(Cruncher, build=lambda: agent)
    seen: list[AgentEvent] = []
    with anyio.fail_after(30):
        async with create_worker(client, task_queue, [spec]):
            run = await start_run(
                client,
                spec,
                "Crunch.",
                id=f"progress-{uuid.uuid4().hex}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=25),
            )
            async for event in run.events(poll_interval=0.05):
                seen.append(event)
                if isinstance(event, ToolExecutionUpdate):  # the tool still runs: it waits
                    (agent.release if agent.next_step.is_set() else agent.next_step).set()
            result = await run.result()
    assert result.text == "crunched"
    kinds = [
        type(e)
        for e in seen
        if type(e) in (ToolExecutionStart, ToolExecutionUpdate, ToolExecutionEnd)
    ]
    assert kinds == [ToolExecutionStart, ToolExecutionUpdate, ToolExecutionUpdate, ToolExecutionEnd]
    updates = [e for e in seen if isinstance(e, ToolExecutionUpdate)]
    start = next(e for e in seen if isinstance(e, ToolExecutionStart))
    assert [u.progress for u in updates] == ["step 1 of 3", "step 2 of 3"], "each report once"
    assert all(u.call == start.call for u in updates)
