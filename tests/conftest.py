"""Shared fixtures: every async test runs on asyncio and on trio."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Iterator[None]:
    # Programs under test (the CLI, docs blocks) configure structlog globally,
    # binding it to this test's captured streams; never let that leak onward.
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _fresh_cache_warnings() -> Iterator[None]:
    # The short-prefix warning fires once per process per (model, prefix): each
    # test is its own "process" for it.
    from agentkit.transforms import _caching

    _caching._WARNED_SHORT.clear()
    yield
    _caching._WARNED_SHORT.clear()
