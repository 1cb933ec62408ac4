"""The :class:`Emulator`: the ASGI app served by uvicorn on loopback, in its own thread.

The server has its own thread and asyncio loop, so tests on asyncio and on
trio use it alike; ``async with`` and ``with`` start it and stop it cleanly.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio

from agentkit._log import get_logger
from agentkit.testing.emulator._app import EmulatorApp
from agentkit.testing.emulator._cache import CacheEntry
from agentkit.testing.emulator._faults import Fault
from agentkit.testing.emulator._model import ModelPolicy, ModelReply
from agentkit.testing.emulator._state import (
    Api,
    Clock,
    EmulatorConfig,
    EmulatorState,
    ManualClock,
    RequestRecord,
)

if TYPE_CHECKING:
    from agentkit.providers import AnthropicProvider, OpenRouterProvider

__all__ = ["Emulator", "EmulatorUnavailableError"]

_log = get_logger("agentkit.testing.emulator")
# The emulator accepts any key and records none; a recognisable dummy keeps that obvious.
EMULATOR_API_KEY = "emulator-local-key"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0


class EmulatorUnavailableError(RuntimeError):
    """The emulator cannot run: uvicorn is missing, or the server failed to start."""


def _uvicorn() -> Any:
    try:
        # Imported here: uvicorn is optional; the cache engine works without it.
        import uvicorn  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EmulatorUnavailableError(
            "agentkit.testing.emulator needs uvicorn: pip install 'agentkit-loop[emulator]'"
        ) from exc
    return uvicorn


class Emulator:
    """A local Anthropic + OpenRouter API with faithful prompt caching.

    ::

        async with Emulator(script=[Reply(text="hi")]) as emu:
            provider = emu.openrouter_provider()  # or emu.anthropic_provider()
            url = emu.anthropic_base_url      # http://127.0.0.1:PORT
            url = emu.openrouter_base_url     # http://127.0.0.1:PORT/api/v1
            emu.clock.advance(301)            # expire 5-minute entries
            emu.requests[-1].cache.read_tokens

    ``script`` is a list of replies (one per generating request) or a policy
    ``(ModelRequest) -> Reply``; None uses :func:`demo_policy`. ``clock``
    defaults to a :class:`ManualClock` at 0. Other keyword arguments are
    :class:`EmulatorConfig` fields.
    """

    def __init__(
        self,
        *,
        script: Sequence[ModelReply] | ModelPolicy | None = None,
        clock: Clock | None = None,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        if config is not None and options:
            raise TypeError("give either config= or EmulatorConfig fields, not both")
        self.config = config if config is not None else EmulatorConfig(**options)
        self.clock: Clock = clock if clock is not None else ManualClock()
        self._state = EmulatorState(script)
        self._host = host
        self._port = port
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._socket: socket.socket | None = None

    # -- addresses
    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the emulator is not running")
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for Anthropic clients; requests go to ``{base}/v1/messages``."""
        return self.base_url

    @property
    def openrouter_base_url(self) -> str:
        """Base URL for OpenRouter clients; requests go to ``{base}/chat/completions``."""
        return f"{self.base_url}/api/v1"

    # -- providers pointed at it
    def openrouter_provider(self, **options: Any) -> OpenRouterProvider:
        """An :class:`OpenRouterProvider` talking to this emulator, with a dummy key.

        ``options`` are the provider's other keyword arguments; use it as
        ``async with emu.openrouter_provider() as provider:``.
        """
        # Imported here: the emulator's own modules need nothing from the providers.
        from agentkit.providers import OpenRouterProvider  # noqa: PLC0415

        options.setdefault("api_key", EMULATOR_API_KEY)
        return OpenRouterProvider(base_url=self.openrouter_base_url, **options)

    def anthropic_provider(self, **options: Any) -> AnthropicProvider:
        """An :class:`AnthropicProvider` talking to this emulator, with a dummy key."""
        from agentkit.providers import AnthropicProvider  # noqa: PLC0415

        options.setdefault("api_key", EMULATOR_API_KEY)
        return AnthropicProvider(base_url=self.anthropic_base_url, **options)

    # -- lifecycle
    def start(self) -> Emulator:
        """Start serving (blocking until ready, well under a second)."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        uvicorn = _uvicorn()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        app = EmulatorApp(self.config, self._state, self.clock, self._stopping)
        # log_config=None: never touch the process's logging configuration.
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._socket = sock
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"agentkit-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise EmulatorUnavailableError("the emulator's server did not start")
            time.sleep(0.002)
        _log.debug("emulator_started", base_url=self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving: end stalled streams, close every connection, join the thread."""
        thread, server, sock = self._thread, self._server, self._socket
        if thread is None:
            return
        self._stopping.set()
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():  # pragma: no cover - a stuck connection; force it
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        if sock is not None:
            sock.close()
        self._thread = self._server = self._socket = None
        _log.debug("emulator_stopped")

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Emulator:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)

    # -- test controls
    @property
    def requests(self) -> tuple[RequestRecord, ...]:
        """Every request answered so far, oldest first."""
        return self._state.records()

    def reset(self, *, script: Sequence[ModelReply] | ModelPolicy | None = None) -> None:
        """Start afresh on the same server: no records, cache, replies, faults or stickiness."""
        self._state.reset(script)

    def clear_requests(self) -> None:
        self._state.clear_records()

    def add_replies(self, *replies: ModelReply) -> None:
        """Queue scripted replies; they answer the next generating requests in order."""
        self._state.add_replies(replies)

    def set_policy(self, policy: ModelPolicy | None) -> None:
        """Answer with ``policy`` once queued replies run out (None: no policy)."""
        self._state.set_policy(policy)

    def inject(self, fault: Fault, *, times: int = 1, api: Api | None = None) -> None:
        """Apply ``fault`` to the next ``times`` requests (of ``api``, or of either)."""
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        self._state.inject(fault, times, api)

    def cache_entries(
        self, api: Api = "anthropic", upstream: str = "Anthropic"
    ) -> tuple[CacheEntry, ...]:
        """The live cache entries of one API's upstream, by position."""
        return self._state.entries(api, upstream, self.clock.now())

    def clear_cache(self) -> None:
        self._state.clear_cache()

    def __repr__(self) -> str:
        where = self.base_url if self._socket is not None else "stopped"
        return f"Emulator({where})"
