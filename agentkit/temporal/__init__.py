"""agentkit.temporal: durable agents, run as Temporal workflows.

An :class:`~agentkit.Agent` subclass runs as a workflow whose code is
agentkit's own loop; the model call and each tool call are activities.
Install with ``pip install 'agentkit-loop[temporal]'``; see
``docs/guides/temporal.md``. Workflows run on Temporal's own asyncio event
loop: trio is not supported there.
"""

from agentkit.temporal._client import DurableRun, create_replayer, create_worker, start_run
from agentkit.temporal._codec import DurableRunError
from agentkit.temporal._payloads import LocalPayloadStore, PayloadStore, PayloadTooLargeError
from agentkit.temporal._spec import DurableAgent
from agentkit.temporal._workflow import AgentWorkflow

__all__ = [
    "AgentWorkflow",
    "DurableAgent",
    "DurableRun",
    "DurableRunError",
    "LocalPayloadStore",
    "PayloadStore",
    "PayloadTooLargeError",
    "create_replayer",
    "create_worker",
    "start_run",
]
