"""CountingTransport counts what it opens and what gets closed, over real loopback HTTP."""

from __future__ import annotations

import anyio
import httpx
import pytest

from agentkit.testing import CountingTransport
from agentkit.testing.emulator import Emulator, ModelReply

pytestmark = pytest.mark.anyio

BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "Hi"}],
}


async def test_counts_open_and_closed_responses() -> None:
    transport = CountingTransport()
    with anyio.fail_after(10):
        async with (
            Emulator(script=[ModelReply(text="One two three.")] * 3) as emu,
            httpx.AsyncClient(transport=transport, base_url=emu.anthropic_base_url) as client,
        ):
            response = await client.post("/v1/messages", json=BODY)  # read in full, closed
            assert response.status_code == 200
            assert (transport.opened, transport.open) == (1, 0)
            async with client.stream("POST", "/v1/messages", json=BODY) as streamed:
                assert streamed.status_code == 200
                assert transport.open == 1  # headers in, body not read: closed on exit
            assert (transport.opened, transport.open) == (2, 0)
            left = await client.send(
                client.build_request("POST", "/v1/messages", json=BODY), stream=True
            )
            assert transport.open == 1  # a response nobody closed is counted as open
            await left.aclose()
            await left.aclose()  # closing twice counts once
            assert (transport.opened, transport.closed, transport.open) == (3, 3, 0)
