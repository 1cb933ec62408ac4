"""Test support: a scripted provider now, a local API emulator in ``agentkit.testing.emulator``."""

from agentkit.testing.scripted import Reply, ScriptedProvider, ScriptExhaustedError, call

__all__ = ["Reply", "ScriptExhaustedError", "ScriptedProvider", "call"]
