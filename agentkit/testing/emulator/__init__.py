"""A local Anthropic + OpenRouter API emulator with faithful prompt-caching semantics.

Start it in-process with ``async with Emulator() as emu`` (or ``with``), or
from the command line: ``python -m agentkit.testing.emulator --port 8765``.
See ``docs/testing-emulator.md``.
"""

from __future__ import annotations

from agentkit.testing.emulator._cache import Breakpoint, CacheEntry, CachePlan, Position
from agentkit.testing.emulator._faults import (
    DripFault,
    DropFault,
    Fault,
    FaultError,
    GzipBombFault,
    KeepAliveFault,
    MalformedFault,
    NotStreamFault,
    RedirectFault,
    StallFault,
    StatusFault,
    StreamErrorFault,
    parse_fault,
)
from agentkit.testing.emulator._model import (
    Block,
    ModelPolicy,
    ModelReply,
    ModelRequest,
    ModelTool,
    ToolUse,
    Turn,
    demo_policy,
)
from agentkit.testing.emulator._output import output_policy
from agentkit.testing.emulator._server import Emulator, EmulatorUnavailableError
from agentkit.testing.emulator._state import (
    CacheReport,
    EmulatorConfig,
    ManualClock,
    RequestRecord,
    SystemClock,
)

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "EmulatorUnavailableError",
    "ManualClock",
    "SystemClock",
    "RequestRecord",
    "CacheReport",
    "ModelReply",
    "ToolUse",
    "ModelRequest",
    "Turn",
    "Block",
    "ModelTool",
    "ModelPolicy",
    "demo_policy",
    "output_policy",
    "Fault",
    "FaultError",
    "StatusFault",
    "StreamErrorFault",
    "DropFault",
    "StallFault",
    "MalformedFault",
    "DripFault",
    "KeepAliveFault",
    "RedirectFault",
    "GzipBombFault",
    "NotStreamFault",
    "parse_fault",
    "Position",
    "Breakpoint",
    "CacheEntry",
    "CachePlan",
]
