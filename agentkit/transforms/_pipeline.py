"""Transforms: pure functions that rewrite the context before each provider call.

A transform takes a :class:`~agentkit.Context` and a :class:`TransformInfo`
and returns a new context. It never mutates its input; parts it does not
change are shared with the input, not copied. A :class:`Pipeline` applies
transforms in order, each seeing the previous one's output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from attrs import define, field

from agentkit._log import Logger, get_logger
from agentkit._messages import Context

__all__ = ["Pipeline", "Transform", "TransformInfo"]


@define(frozen=True, slots=True)
class TransformInfo:
    """What a transform may know about the request it prepares.

    ``turn`` counts from 1 within the run. :meth:`once` answers True the first
    time it is asked a key during a run, for warnings that must not repeat.
    ``max_tokens`` is the request's output budget, when it has one: the room a
    transform that measures the request must leave in the model's window.
    """

    model: str
    provider: str
    run_id: str = ""
    turn: int = 1
    _seen: set[str] = field(factory=set, alias="seen", repr=False, eq=False)
    max_tokens: int | None = None

    def once(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def seen(self, key: str) -> bool:
        """Whether :meth:`once` has been asked ``key`` during this run (without asking it)."""
        return key in self._seen

    @property
    def log(self) -> Logger:
        """A logger bound with the run id, turn, model and provider."""
        return get_logger("agentkit.transforms").bind(
            run_id=self.run_id, turn=self.turn, model=self.model, provider=self.provider
        )


Transform: TypeAlias = Callable[[Context, TransformInfo], Context]


@define(frozen=True, slots=True)
class Pipeline:
    """Transforms applied in order; itself a transform."""

    transforms: tuple[Transform, ...] = ()

    def __call__(self, context: Context, info: TransformInfo) -> Context:
        for transform in self.transforms:
            context = transform(context, info)
        return context

    def then(self, *transforms: Transform) -> Pipeline:
        """A new pipeline with ``transforms`` appended."""
        return Pipeline((*self.transforms, *transforms))
