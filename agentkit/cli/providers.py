"""Which provider a command-line session (or the demo) talks to.

Offline by default: ``auto`` is a local emulator started in-process, free and
without a network, even when an API key is exported. A real, paid service is
used only when asked for explicitly: ``--live`` (``live=True``) or
``AGENTKIT_LIVE=1`` makes ``auto`` pick OpenRouter with ``OPENROUTER_API_KEY``,
else Anthropic with ``ANTHROPIC_API_KEY``; naming a service with
``--provider`` asks for that service.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from attrs import define

from agentkit.providers._anthropic import AnthropicProvider
from agentkit.providers._base import Provider
from agentkit.providers._openai_compat import OpenAICompatibleProvider
from agentkit.providers._openrouter import OpenRouterProvider

__all__ = ["CHOICES", "LIVE_VARIABLE", "Session", "live_requested", "open_session", "resolve"]

CHOICES = ("auto", "openrouter", "anthropic", "openai-compatible", "emulator")
LIVE_VARIABLE = "AGENTKIT_LIVE"
DEFAULT_MODELS = {
    "openrouter": "anthropic/claude-sonnet-4.5",
    "anthropic": "claude-sonnet-4-5",
    "emulator": "anthropic/claude-sonnet-4.5",
}
KEY_VARIABLES = {"openrouter": "OPENROUTER_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@define(frozen=True, slots=True)
class Session:
    """A provider ready to use, the model to ask, and where requests go (for humans).

    ``live`` is true when requests leave this machine for a real service,
    which may bill them; ``where`` says so.
    """

    provider: Provider
    model: str
    where: str
    live: bool


def live_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``AGENTKIT_LIVE`` asks for a real service (``1``) or not (``0`` or unset)."""
    raw = (os.environ if environ is None else environ).get(LIVE_VARIABLE, "")
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{LIVE_VARIABLE}={raw!r} is neither on nor off: "
        f"set it to 1 for a real service, or to 0 (or unset it) for the local emulator"
    )


def resolve(
    choice: str = "auto", *, live: bool | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The provider kind ``choice`` means: a name from :data:`CHOICES` other than ``auto``.

    ``auto`` is the emulator unless ``live`` (or, when ``live`` is None,
    ``AGENTKIT_LIVE``) asks for a real service; an exported API key alone
    never does.
    """
    if choice not in CHOICES:
        raise ValueError(f"unknown provider {choice!r}; choose one of {', '.join(CHOICES)}")
    if choice != "auto":
        return choice
    environ = os.environ if environ is None else environ
    if not (live_requested(environ) if live is None else live):
        return "emulator"
    for kind, variable in KEY_VARIABLES.items():
        if environ.get(variable):
            return kind
    raise ValueError(
        f"a live session needs {KEY_VARIABLES['openrouter']} or "
        f"{KEY_VARIABLES['anthropic']}; without --live and {LIVE_VARIABLE} "
        "it runs on the local emulator"
    )


def _live_where(name: str, kind: str, base_url: str | None) -> str:
    billed = f", billed to {KEY_VARIABLES[kind]}" if kind in KEY_VARIABLES else ""
    return f"{base_url or name} (live{billed})"


@asynccontextmanager
async def open_session(
    choice: str = "auto",
    *,
    model: str | None = None,
    base_url: str | None = None,
    live: bool | None = None,
) -> AsyncIterator[Session]:
    """The provider for ``choice``; the emulator, if chosen, runs for the block's lifetime.

    ``live`` as in :func:`resolve`: None reads ``AGENTKIT_LIVE``.
    """
    kind = resolve(choice, live=live)
    if kind == "openai-compatible":
        if base_url is None or model is None:
            raise ValueError("openai-compatible needs --base-url and --model")
        async with OpenAICompatibleProvider(base_url=base_url) as compatible:
            yield Session(compatible, model, _live_where(base_url, kind, None), live=True)
        return
    chosen_model = model or DEFAULT_MODELS[kind]
    if kind == "openrouter":
        openrouter = OpenRouterProvider(base_url=base_url) if base_url else OpenRouterProvider()
        async with openrouter:
            where = _live_where("OpenRouter", kind, base_url)
            yield Session(openrouter, chosen_model, where, live=True)
        return
    if kind == "anthropic":
        anthropic = AnthropicProvider(base_url=base_url) if base_url else AnthropicProvider()
        async with anthropic:
            where = _live_where("Anthropic", kind, base_url)
            yield Session(anthropic, chosen_model, where, live=True)
        return
    # Test support, imported only on the offline path: the emulator needs uvicorn.
    from agentkit.testing.emulator import Emulator, demo_policy  # noqa: PLC0415

    async with (
        Emulator(script=demo_policy) as emulator,
        emulator.openrouter_provider() as local,
    ):
        where = (
            f"the local emulator at {emulator.base_url} "
            f"(offline and free; {LIVE_VARIABLE}=1 for a real service)"
        )
        yield Session(local, chosen_model, where, live=False)
