"""Context transforms and the pipeline that runs them before every provider call."""

from agentkit.transforms._caching import (
    ASSUMED_MIN_CACHEABLE_TOKENS,
    MARKER_APIS,
    MAX_BREAKPOINTS,
    CacheBreakpoints,
    CacheMarkerError,
    CacheMode,
    cache_breakpoints,
    count_breakpoints,
)
from agentkit.transforms._pipeline import Pipeline, Transform, TransformInfo

__all__ = [
    "ASSUMED_MIN_CACHEABLE_TOKENS",
    "MARKER_APIS",
    "MAX_BREAKPOINTS",
    "CacheBreakpoints",
    "CacheMarkerError",
    "CacheMode",
    "Pipeline",
    "Transform",
    "TransformInfo",
    "cache_breakpoints",
    "count_breakpoints",
]
