"""Histories recorded by earlier versions replay on this code: running workflows survive a deploy.

``histories/*.json`` are real histories (``temporal workflow show --output
json`` format). A change to the loop, the workflow or an agent's hooks that
changes what a run asks Temporal to do breaks their replay with a
non-determinism error: such a change needs ``workflow.patched`` (or a new
workflow name) so that runs in flight can finish. After a deliberate,
compatible-for-new-runs-only change, re-record with
``AGENTKIT_RECORD_HISTORIES=1 pytest tests/temporal/test_histories.py``.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import anyio
import pytest
from temporalio.client import Client, WorkflowHistory

from agentkit import AgentEnd, Approval
from agentkit.temporal import DurableAgent, DurableRun, create_replayer, create_worker, start_run
from tests.temporal import approval_process
from tests.temporal.agents import Guarded

pytestmark = pytest.mark.anyio

HISTORIES = Path(__file__).resolve().parent / "histories"
RECORD = os.environ.get("AGENTKIT_RECORD_HISTORIES") == "1"


SPECS = {"guarded": DurableAgent(Guarded), "approved": approval_process.SPEC}
PROMPTS = {"guarded": "Add and shout.", "approved": "Free some space."}


async def approve(run: DurableRun) -> None:
    """Wait for the pause, then approve one call and deny the other."""
    async for event in run.events(poll_interval=0.05):
        if isinstance(event, AgentEnd) and event.paused is not None:
            break
    await run.decide({"c2": Approval.approve(), "c3": Approval.deny("not this one")})


async def record(address: str, path: Path) -> None:
    client = await Client.connect(address)
    task_queue = f"recorded-{uuid.uuid4().hex[:8]}"
    spec = SPECS[path.stem]
    async with create_worker(client, task_queue, [spec]):
        run = await start_run(
            client, spec, PROMPTS[path.stem], id=f"recorded-{path.stem}", task_queue=task_queue
        )
        if path.stem == "approved":
            await approve(run)
        await run.result()
    history = await run.handle.fetch_history()
    await anyio.Path(path).write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")


@pytest.mark.parametrize("name", sorted(SPECS))
async def test_a_recorded_history_replays_without_a_nondeterminism_error(
    temporal_address: str, name: str, tmp_path: Path
) -> None:
    approval_process.RECORDS = tmp_path  # where the approval agent's tools write, when recording
    path = HISTORIES / f"{name}.json"
    with anyio.fail_after(30):
        if RECORD:
            await record(temporal_address, path)
        raw = json.loads(await anyio.Path(path).read_text())
        started = raw["events"][0]["workflowExecutionStartedEventAttributes"]
        history = WorkflowHistory.from_json(f"recorded-{name}", raw)
        replayer = create_replayer(started["taskQueue"]["name"], [SPECS[name]])
        result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
