"""A small MCP server over stdio that misbehaves on request: the fault tests' subject.

It speaks the 2025-11-25 handshake by hand (no SDK, so it starts in milliseconds):
``server/discover`` is refused, ``initialize`` answered, tools listed and called.

    python fault_server.py DIR [--fault PHASE:KIND@START]...

PHASE is ``initialize``, ``list``, ``call`` (of ``echo``) or ``close``; KIND is
``crash`` (exit at once) or ``stall`` (never answer; at ``close``: ignore the
end of stdin and SIGTERM). A fault happens in the START-th process only (1 when
omitted), once: every start appends its pid to DIR/pids, whose length counts them.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="  # noqa: E501
OBJECT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
EMPTY = {"type": "object", "properties": {}}
# Not in name order, with a name agentkit must rewrite ("ns.shout" -> "ns_shout").
TOOLS = [
    {"name": "echo", "description": "Echo a text.", "inputSchema": OBJECT},
    {"name": "ns.shout", "description": "Shout a text.", "inputSchema": OBJECT},
    {"name": "struct", "description": "Structured only.", "inputSchema": EMPTY},
    {"name": "picture", "description": "A tiny image.", "inputSchema": EMPTY},
    {"name": "oops", "description": "Always fails.", "inputSchema": EMPTY},
    {"name": "grow", "description": "Add the tool 'extra'.", "inputSchema": EMPTY},
    {"name": "mixed", "description": "Content messages cannot hold.", "inputSchema": EMPTY},
]
MIXED = [
    {"type": "audio", "data": "AAAA", "mimeType": "audio/wav"},
    {"type": "resource_link", "uri": "file:///a", "name": "a", "description": "A"},
    {"type": "resource", "resource": {"uri": "file:///t", "text": "inline"}},
    {"type": "resource", "resource": {"uri": "file:///b", "blob": "AA", "mimeType": "x/y"}},
]
# A prompt whose assistant message holds an image.
PICTURE_PROMPT = {
    "messages": [
        {"role": "user", "content": {"type": "text", "text": "Draw."}},
        {"role": "assistant", "content": {"type": "image", "data": PNG, "mimeType": "image/png"}},
    ]
}
EXTRA = {"name": "extra", "description": "Added later.", "inputSchema": EMPTY}


def main() -> None:
    folder = Path(sys.argv[1])
    with (folder / "pids").open("a") as f:
        f.write(f"{os.getpid()}\n")
    start = len((folder / "pids").read_text().split())
    faults = {}
    for spec in sys.argv[3::2]:
        what, _, when = spec.partition("@")
        phase, kind = what.split(":")
        if int(when or 1) == start:
            faults[phase] = kind
    # More tools from the environment (MCPServer.stdio(env=...) is tested with it).
    tools = list(TOOLS) + json.loads(os.environ.get("FAULT_EXTRA_TOOLS", "[]"))
    if start % 2 == 0:
        # Every other start lists the tools, and each schema's keys, in reverse order:
        # what the model is sent must not change with it.
        tools = [{**t, "inputSchema": dict(reversed(t["inputSchema"].items()))} for t in tools]
        tools.reverse()

    def fault(phase: str) -> str | None:
        kind = faults.pop(phase, None)  # once per process
        if kind == "crash":
            os._exit(3)
        return kind

    def send(message: dict[str, object]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def answer(request: dict[str, object], result: dict[str, object]) -> None:
        send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    for line in sys.stdin:
        request = json.loads(line)
        method = request.get("method")
        if "id" not in request:
            continue  # a notification
        if method == "initialize":
            if fault("initialize"):
                continue
            answer(
                request,
                {
                    "protocolVersion": "2025-11-25",
                    "capabilities": {"tools": {"listChanged": True}},
                    "serverInfo": {"name": "fault-server", "version": "1"},
                },
            )
        elif method == "tools/list":
            if fault("list"):
                continue
            answer(request, {"tools": tools})
        elif method == "tools/call":
            params = request["params"]
            assert isinstance(params, dict)
            name, args = params["name"], params.get("arguments") or {}
            if name == "echo" and fault("call"):
                continue
            if name == "echo":
                answer(request, {"content": [{"type": "text", "text": args["text"]}]})
            elif name == "ns.shout":
                answer(request, {"content": [{"type": "text", "text": args["text"].upper()}]})
            elif name == "struct":
                answer(request, {"content": [], "structuredContent": {"b": 2, "a": 1}})
            elif name == "picture":
                content = [{"type": "image", "data": PNG, "mimeType": "image/png"}]
                answer(request, {"content": content})
            elif name == "mixed":
                answer(request, {"content": MIXED})
            elif name == "oops":
                content = [{"type": "text", "text": "it went wrong"}]
                answer(request, {"content": content, "isError": True})
            elif name in ("grow", "extra"):
                if EXTRA not in tools:
                    tools.append(EXTRA)
                    send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
                answer(request, {"content": [{"type": "text", "text": "grown"}]})
            else:
                error = {"code": -32602, "message": f"unknown tool {name}"}
                send({"jsonrpc": "2.0", "id": request["id"], "error": error})
        elif method == "prompts/get":
            answer(request, PICTURE_PROMPT)
        else:
            error = {"code": -32601, "message": f"method not found: {method}"}
            send({"jsonrpc": "2.0", "id": request["id"], "error": error})
    if fault("close"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(1)  # a server that will not exit: only SIGKILL ends it


if __name__ == "__main__":
    main()
