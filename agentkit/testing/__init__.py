"""Test support: a scripted provider, a response-counting transport, and the local
API emulator in ``agentkit.testing.emulator``."""

from agentkit.testing._scripted import Reply, ScriptedProvider, ScriptExhaustedError, call
from agentkit.testing._transport import CountingTransport

__all__ = ["CountingTransport", "Reply", "ScriptExhaustedError", "ScriptedProvider", "call"]
