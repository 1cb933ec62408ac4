"""Keeping large values out of the workflow history: a payload store and placeholders.

Temporal keeps every activity input and result in the workflow's history, and
refuses a payload over its limit (2 MB by default). A tool result block whose
JSON form is over :attr:`DurableAgent.payload_limit` bytes is written to a
:class:`PayloadStore` by the tool activity and replaced in the history by a
placeholder text block naming its key; the model activity puts the block back
before calling the provider. Without a store, such a result fails the run with
:class:`PayloadTooLargeError` instead of failing the workflow task again and again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import anyio
import attrs

from agentkit._errors import AgentkitError
from agentkit._messages import (
    Context,
    ImageContent,
    Message,
    TextContent,
    ToolResultMessage,
    UserMessage,
    content_from_dict,
)

__all__ = [
    "LocalPayloadStore",
    "PayloadStore",
    "PayloadTooLargeError",
    "json_size",
    "offload_blocks",
    "restore_context",
]

_KEY = re.compile(r"[0-9a-f]{64}")
_PLACEHOLDER = re.compile(r"\A\[agentkit payload ([0-9a-f]{64}), (\d+) bytes\]\Z")


class PayloadTooLargeError(AgentkitError):
    """A value is over the durable payload limit and there is no store to keep it in.

    ``size`` is its size in bytes (as JSON), ``limit`` the limit it exceeded,
    ``what`` names the value.
    """

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(
            f"{what} is {size} bytes, over the durable payload limit of {limit} bytes; "
            "give the DurableAgent a payload_store to keep large values out of the history"
        )
        self.what = what
        self.size = size
        self.limit = limit


@runtime_checkable
class PayloadStore(Protocol):
    """Where large values live instead of the workflow history.

    ``put`` stores ``data`` and returns its key, a lowercase hex SHA-256 of
    ``data`` (so a retried activity writes the same key); ``get`` returns what
    was stored under ``key``. Both are called from activities only.
    """

    async def put(self, data: bytes) -> str: ...

    async def get(self, key: str) -> bytes: ...


class LocalPayloadStore:
    """A :class:`PayloadStore` in a local directory, shared by the workers of one machine.

    Each value is one file named by its SHA-256, written atomically (a
    temporary file renamed into place), so concurrent writers of the same
    value never expose a partial file.
    """

    __slots__ = ("_directory",)

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._directory = Path(directory)
        self._directory.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalPayloadStore({str(self._directory)!r})"

    @property
    def directory(self) -> Path:
        return self._directory

    async def put(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        await anyio.to_thread.run_sync(self._write, key, data)
        return key

    def _write(self, key: str, data: bytes) -> None:
        target = self._directory / key
        if target.exists():
            return
        fd, temporary = tempfile.mkstemp(dir=self._directory, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> bytes:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a payload key: {key!r}")
        path = self._directory / key
        try:
            return await anyio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError:
            raise KeyError(f"payload {key} is not in {self._directory}") from None


def json_size(value: Any) -> int:
    """The size in bytes of ``value`` as compact JSON (what Temporal stores)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _placeholder(key: str, size: int) -> TextContent:
    return TextContent(f"[agentkit payload {key}, {size} bytes]")


async def offload_blocks(
    blocks: list[dict[str, Any]], limit: int, store: PayloadStore | None, what: str
) -> list[dict[str, Any]]:
    """``blocks`` (content block dicts) with each one over ``limit`` bytes in ``store``."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        size = json_size(block)
        if size <= limit:
            out.append(block)
            continue
        if store is None:
            raise PayloadTooLargeError(what, size, limit)
        data = json.dumps(block, separators=(",", ":"), ensure_ascii=False).encode()
        key = await store.put(data)
        out.append(_placeholder(key, size).to_dict())
    return out


async def restore_context(context: Context, store: PayloadStore | None) -> Context:
    """``context`` with every placeholder block replaced by the block it stands for."""
    if store is None:
        return context
    messages: list[Message] = []
    changed = False
    for message in context.messages:
        if isinstance(message, ToolResultMessage | UserMessage):
            content = await _restore_blocks(message.content, store)
            if content is not None:
                messages.append(attrs.evolve(message, content=content))
                changed = True
                continue
        messages.append(message)
    return attrs.evolve(context, messages=tuple(messages)) if changed else context


async def _restore_blocks(
    blocks: tuple[TextContent | ImageContent, ...], store: PayloadStore
) -> tuple[TextContent | ImageContent, ...] | None:
    restored: list[TextContent | ImageContent] = []
    changed = False
    for block in blocks:
        match = _PLACEHOLDER.fullmatch(block.text) if isinstance(block, TextContent) else None
        if match is None:
            restored.append(block)
            continue
        data = json.loads(await store.get(match.group(1)))
        original: TextContent | ImageContent = content_from_dict(data, (TextContent, ImageContent))
        # A transform may have marked the placeholder (a cache breakpoint): keep the mark.
        restored.append(attrs.evolve(original, cache_control=block.cache_control))
        changed = True
    return tuple(restored) if changed else None
