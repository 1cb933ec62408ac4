"""Helpers shared by the benchmarks: timing, medians and spreads, machine facts."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

__all__ = [
    "Sample",
    "machine",
    "median",
    "peer_available",
    "rss_bytes",
    "spread",
    "timed",
    "versions",
]

PACKAGES = (
    "agentkit",
    "httpx",
    "anyio",
    "pydantic",
    "pydantic-ai-slim",
    "openai-agents",
    "openai",
    "anthropic",
    "uvicorn",
)
# Distributions whose name on the package index differs from the name reported.
DISTRIBUTIONS = {"agentkit": "agentkit-loop"}


def versions() -> dict[str, str | None]:
    """Installed versions of agentkit and of every peer (None when absent)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(DISTRIBUTIONS.get(name, name))
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def peer_available(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    memory = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            memory = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
    }


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="utf-8") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, lowest and highest of one figure over independent runs."""
    return {"median": median(values), "min": float(min(values)), "max": float(max(values))}


class Sample:
    """Wall and CPU seconds of one measured call."""

    __slots__ = ("cpu", "wall")

    def __init__(self, wall: float, cpu: float) -> None:
        self.wall = wall
        self.cpu = cpu


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[Sample, Any]:
    """Runs ``fn`` once; wall time by ``perf_counter``, CPU by ``process_time``."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = await fn()
    return Sample(time.perf_counter() - wall, time.process_time() - cpu), value
