"""Context transforms and the pipeline that runs them before every provider call."""

from agentkit.transforms.pipeline import Pipeline, Transform, TransformInfo

__all__ = ["Pipeline", "Transform", "TransformInfo"]
