"""An agent whose tools log to a file, and a command that resumes it: for a second process.

    python -m tests.pause_worker STATE DECISIONS LOG OUT

reads a :class:`~agentkit.Paused` state from STATE, the decisions from
DECISIONS (``{"id": ["approve"] | ["deny", reason] | ["replace", {...}]}``),
resumes a new :class:`Keeper` whose tools append to LOG, and writes the
result (its stop reason, the state if it paused again, the conversation) to OUT.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

from agentkit import (
    Agent,
    Approval,
    AssistantMessage,
    Context,
    ModelOptions,
    Paused,
    ToolCall,
    tool,
)
from agentkit.testing import Reply, ScriptedProvider

TURNS = [
    [
        ToolCall("a-look", "look", {"what": "disk"}),
        ToolCall("a-x", "delete", {"path": "x"}),
        ToolCall("a-y", "delete", {"path": "y"}),
        ToolCall("a-z", "delete", {"path": "z"}),
    ],
    [ToolCall("b-w", "delete", {"path": "w"}), ToolCall("b-look", "look", {"what": "trash"})],
]


def model(context: Context, options: ModelOptions) -> Reply:
    """Each answer depends only on how many came before: the same in every process."""
    answered = sum(isinstance(m, AssistantMessage) for m in context.messages)
    if answered < len(TURNS):
        return Reply(tool_calls=TURNS[answered])
    return Reply("done")


class Keeper(Agent):
    model = "m"

    def __init__(self, log: Path, **kw: Any) -> None:
        super().__init__(provider=ScriptedProvider(model), **kw)
        self.log = log

    def _ran(self, line: str) -> str:
        with self.log.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        return line

    @tool
    def look(self, what: str) -> str:
        """Look at something."""
        return self._ran(f"look {what}")

    @tool(requires_approval=True)
    def delete(self, path: str) -> str:
        """Delete a file."""
        return self._ran(f"delete {path}")


def decisions_from(data: dict[str, list[Any]]) -> dict[str, Approval]:
    made = {"approve": Approval.approve, "deny": Approval.deny, "replace": Approval.replace}
    return {key: made[value[0]](*value[1:]) for key, value in data.items()}


async def resume(paused: Paused, decisions: dict[str, Approval], log: Path) -> dict[str, Any]:
    agent = Keeper(log)
    with anyio.fail_after(20):
        result = await agent.resume(paused, decisions)
    return {
        "stop_reason": result.stop_reason.value,
        "paused": result.paused.to_json() if result.paused is not None else None,
        "messages": [m.to_dict() for m in agent.messages],
    }


if __name__ == "__main__":
    state, decisions, log, out = map(Path, sys.argv[1:5])
    paused = Paused.from_json(state.read_text(encoding="utf-8"))
    chosen = decisions_from(json.loads(decisions.read_text(encoding="utf-8")))
    report = anyio.run(resume, paused, chosen, log)
    out.write_text(json.dumps(report), encoding="utf-8")
