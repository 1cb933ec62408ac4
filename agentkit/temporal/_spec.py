"""DurableAgent: how an Agent subclass runs on Temporal, and the worker's registry of them."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from attrs import define, field

from agentkit._agent import Agent
from agentkit._errors import AgentkitError
from agentkit._tools import Tool
from agentkit.temporal._payloads import PayloadStore

__all__ = ["DurableAgent", "activity_name", "lookup", "register"]

# Temporal accepts any string; these stay readable in the UI and in `temporal` commands.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,199}")


def _positive(instance: object, attribute: Any, value: timedelta) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValueError(
            f"DurableAgent.{attribute.name} must be a positive timedelta, got {value!r}"
        )


def _attempts(instance: object, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"DurableAgent.{attribute.name} must be an int >= 1, got {value!r}")


def _limit(instance: object, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1024:
        raise ValueError(f"DurableAgent.payload_limit must be an int >= 1024, got {value!r}")


def _agent_class(instance: object, attribute: Any, value: Any) -> None:
    if not (isinstance(value, type) and issubclass(value, Agent)):
        raise TypeError(f"DurableAgent.agent must be an Agent subclass, got {value!r}")


@define(frozen=True, slots=True, eq=False)
class DurableAgent:
    """An :class:`~agentkit.Agent` subclass made durable: run as a Temporal workflow.

    ``build`` makes the worker's instance (default: ``agent()``): its provider
    and tools run in the activities, its hooks, transforms and limits in the
    workflow. ``name`` is the agent's name on Temporal (default: the class
    name); activity names derive from it (``Name.model``, ``Name.tool.<tool>``),
    so renaming it breaks running workflows. ``not_idempotent`` names the tools
    that must never run twice: they get one attempt, and one interrupted by a
    lost worker is reported to the model as interrupted. The other tools are
    retried after a lost worker, up to ``tool_attempts`` times. A tool result
    block over ``payload_limit`` bytes goes to ``payload_store`` (without one,
    the run fails with :class:`PayloadTooLargeError`).
    """

    agent: type[Agent] = field(validator=_agent_class)
    build: Callable[[], Agent] | None = None
    name: str | None = None
    model_timeout: timedelta = field(default=timedelta(minutes=10), validator=_positive)
    heartbeat_timeout: timedelta = field(default=timedelta(seconds=30), validator=_positive)
    model_attempts: int = field(default=3, validator=_attempts)
    tool_attempts: int = field(default=3, validator=_attempts)
    not_idempotent: frozenset[str] = field(default=frozenset(), converter=frozenset)
    payload_limit: int = field(default=256 * 1024, validator=_limit)
    payload_store: PayloadStore | None = None
    _instance: list[Agent] = field(factory=list, init=False, repr=False)
    _lock: threading.Lock = field(factory=threading.Lock, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not _NAME.fullmatch(self.workflow_name):
            raise ValueError(f"DurableAgent.name: {self.workflow_name!r} is not a usable name")
        if self.payload_store is not None and not isinstance(self.payload_store, PayloadStore):
            raise TypeError(f"payload_store must be a PayloadStore, got {self.payload_store!r}")

    @property
    def workflow_name(self) -> str:
        """The agent's name on Temporal."""
        return self.name or self.agent.__name__

    def instance(self) -> Agent:
        """The worker's agent, built on first use and checked against this spec."""
        with self._lock:
            if not self._instance:
                built = self.build() if self.build is not None else self.agent()
                if not isinstance(built, self.agent):
                    raise TypeError(
                        f"DurableAgent({self.agent.__name__}).build returned "
                        f"{type(built).__name__}, not a {self.agent.__name__}"
                    )
                unknown = sorted(self.not_idempotent - {t.name for t in built.tools})
                if unknown:
                    raise AgentkitError(
                        f"DurableAgent({self.workflow_name}).not_idempotent names "
                        f"tools the agent does not have: {unknown}"
                    )
                self._instance.append(built)
            return self._instance[0]

    def tools(self) -> tuple[Tool, ...]:
        return self.instance().tools


def activity_name(agent: str, tool: str | None = None) -> str:
    """The stable activity name of an agent's model call, or of one of its tools."""
    return f"{agent}.model" if tool is None else f"{agent}.tool.{tool}"


_registry: dict[tuple[str, str], DurableAgent] = {}
_registry_lock = threading.Lock()


def register(task_queue: str, agents: Iterable[DurableAgent]) -> None:
    """Make ``agents`` known to the workflows of ``task_queue`` in this process.

    Workflow code cannot reach the worker object that runs it, only the task
    queue it was scheduled on: the registry is keyed by both. The last
    registration of a name on a queue wins.
    """
    with _registry_lock:
        for spec in agents:
            spec.instance()  # a broken build fails at worker start, not in a workflow
            _registry[(task_queue, spec.workflow_name)] = spec


def lookup(task_queue: str, name: str) -> DurableAgent | None:
    with _registry_lock:
        return _registry.get((task_queue, name))
