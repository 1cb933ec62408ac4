"""Context transforms and the pipeline that runs them before every provider call."""

from agentkit._errors import CompactionError
from agentkit.transforms._caching import CacheBreakpoints, CacheMarkerError
from agentkit.transforms._compaction import ClearToolResults
from agentkit.transforms._pipeline import Pipeline, Transform, TransformInfo

__all__ = [
    "CacheBreakpoints",
    "CacheMarkerError",
    "ClearToolResults",
    "CompactionError",
    "Pipeline",
    "Transform",
    "TransformInfo",
]
