"""Durable approvals: a paused run waits in the workflow and resumes on a decision from anywhere."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from temporalio.client import Client

from agentkit import (
    AgentEnd,
    Approval,
    AssistantMessage,
    ResumeError,
    StopReason,
    ToolResultMessage,
)
from agentkit.temporal import DurableRun, create_worker, start_run
from tests.temporal import approval_process
from tests.temporal.approval_process import DENIAL, SPEC
from tests.temporal.test_crash import ROOT, read_until
from tests.temporal.test_durable import replay

pytestmark = pytest.mark.anyio

PROCESS = (sys.executable, "-m", "tests.temporal.approval_process")


async def wait_paused(run: DurableRun) -> None:
    async for event in run.events(poll_interval=0.05):
        if isinstance(event, AgentEnd) and event.paused is not None:
            return
    raise AssertionError("the run ended without pausing")


def runs(records: Path, name: str) -> list[str]:
    path = records / f"runs-{name}"
    return path.read_text().splitlines() if path.exists() else []


async def test_a_paused_run_is_approved_from_another_process_after_its_worker_is_gone(
    temporal_address: str, tmp_path: Path
) -> None:
    task_queue = f"approve-{uuid.uuid4().hex[:12]}"
    client = await Client.connect(temporal_address)

    async def worker() -> anyio.abc.Process:
        process = await anyio.open_process(
            [*PROCESS, "worker", temporal_address, task_queue, str(tmp_path)],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        await read_until(process, "ready")
        return process

    with anyio.fail_after(60):
        first = await worker()
        try:
            run = await start_run(
                client,
                SPEC,
                "Free some space.",
                id=f"approve-{uuid.uuid4().hex}",
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=55),
            )
            await wait_paused(run)
            paused = await run.paused()
            assert paused is not None
            assert [(c.id, c.arguments) for c in paused.pending] == [
                ("c2", {"path": "old.log"}),
                ("c3", {"path": "cache.tmp"}),
            ]
            assert paused.finished == {"c1"}
            # Fail closed, as in-process: each refused before anything runs.
            refused = {
                "no decision for tool call": {"c2": Approval.approve()},
                "unknown tool call id 'c9'": {
                    "c2": Approval.approve(),
                    "c3": Approval.approve(),
                    "c9": Approval.approve(),
                },
                "needed no approval": {
                    "c1": Approval.approve(),
                    "c2": Approval.approve(),
                    "c3": Approval.approve(),
                },
                "replaced arguments": {
                    "c2": Approval.replace({"path": 7}),
                    "c3": Approval.approve(),
                },
                "must be an Approval": {"c2": "yes", "c3": Approval.approve()},
            }
            for match, decisions in refused.items():
                with pytest.raises(ResumeError, match=match):
                    await run.decide(decisions)  # type: ignore[arg-type]
            assert await run.paused() == paused, "a refused decision changes nothing"
            # The wait holds nothing open: no activity, no timer.
            description = await run.handle.describe()
            assert not description.raw_description.pending_activities
            kinds = [e.WhichOneof("attributes") for e in (await run.handle.fetch_history()).events]
            timers = [k for k in kinds if k and k.startswith("timer_")]
            assert timers.count("timer_started_event_attributes") * 2 == len(timers)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        assert runs(tmp_path, "delete_file") == [], "nothing ran unapproved"
        second = await worker()  # a new worker, later; the decision comes from a third process
        try:
            decider = await anyio.run_process(
                [*PROCESS, "decide", temporal_address, run.id],
                cwd=ROOT,
            )
            assert decider.stdout.decode().split() == ["decided"]
            result = await run.result()
            ends = [e async for e in run.events() if isinstance(e, AgentEnd)]
            with pytest.raises(ResumeError, match="not waiting for approval"):
                await run.decide({"c2": Approval.approve(), "c3": Approval.approve()})
        finally:
            second.terminate()
            await second.wait()
    assert result.stop_reason is StopReason.STOP
    assert result.paused is None
    assert [e.stop_reason for e in ends] == [StopReason.PAUSED, StopReason.STOP]
    assert ends[0].paused == paused, "the events go on past the pause"
    results = [m for m in result.messages if isinstance(m, ToolResultMessage)]
    assert [(r.tool_call_id, r.is_error) for r in results] == [
        ("c1", False),
        ("c2", False),
        ("c3", True),
    ]
    assert results[1].text == "deleted old.log"
    assert results[2].text == f"Tool call 'delete_file' was denied: {DENIAL}"
    assert runs(tmp_path, "delete_file") == ["old.log"], "the approved call ran once"
    assert runs(tmp_path, "list_files") == ["listed"], "the call before the pause never reran"
    assert result.text.startswith("Done: ")
    answers = [m for m in result.messages if isinstance(m, AssistantMessage)]
    assert len(answers) == 2, "the answer before the pause and the one after"
    assert result.usage.output > 0
    assert result.usage == answers[0].usage + answers[1].usage, "both runs' usage is counted"
    await replay(run.handle, task_queue, [SPEC])


async def test_an_abort_ends_the_wait_and_the_run_stays_resumable(
    temporal_address: str, tmp_path: Path
) -> None:
    approval_process.RECORDS = tmp_path
    client = await Client.connect(temporal_address)
    task_queue = f"approve-{uuid.uuid4().hex[:12]}"
    with anyio.fail_after(30):
        async with create_worker(client, task_queue, [SPEC]):
            run = await start_run(
                client,
                SPEC,
                "Free some space.",
                id=f"abort-{uuid.uuid4().hex}",
                task_queue=task_queue,
            )
            await wait_paused(run)
            await run.abort()
            result = await run.result()
    assert result.stop_reason is StopReason.PAUSED
    assert result.paused is not None
    assert [c.id for c in result.paused.pending] == ["c2", "c3"]
    assert runs(tmp_path, "delete_file") == []
    # Resumed in-process from the durable run's state.
    resumed = await approval_process.Janitor().resume(
        result.paused, {"c2": Approval.deny("no"), "c3": Approval.approve()}
    )
    assert resumed.stop_reason is StopReason.STOP
    assert runs(tmp_path, "delete_file") == ["cache.tmp"]
