"""Context transforms and the pipeline that runs them before every provider call."""

from agentkit.transforms._caching import CacheBreakpoints, CacheMarkerError
from agentkit.transforms._pipeline import Pipeline, Transform, TransformInfo

__all__ = ["CacheBreakpoints", "CacheMarkerError", "Pipeline", "Transform", "TransformInfo"]
