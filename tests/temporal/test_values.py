"""The durable values without a server: specs, the payload store, placeholders, JSON forms."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentkit import (
    Agent,
    AgentkitError,
    Approval,
    Context,
    ImageContent,
    Message,
    ResumeError,
    RunResult,
    StopReason,
    TextContent,
    ToolResultMessage,
    Usage,
    UsageLimits,
)
from agentkit.temporal import DurableAgent, LocalPayloadStore, PayloadTooLargeError
from agentkit.temporal._codec import decisions_from_dict, decisions_to_dict
from agentkit.testing import ScriptedProvider
from agentkit.testing.strategies import conversations
from tests.temporal.agents import Guarded

pytestmark = pytest.mark.anyio


def test_a_spec_names_its_problems() -> None:
    with pytest.raises(TypeError, match="must be an Agent subclass"):
        DurableAgent(object)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a usable name"):
        DurableAgent(Guarded, name="has space")
    with pytest.raises(ValueError, match="heartbeat_timeout must be a positive timedelta"):
        DurableAgent(Guarded, heartbeat_timeout=timedelta(0))
    with pytest.raises(ValueError, match="tool_attempts must be an int >= 1"):
        DurableAgent(Guarded, tool_attempts=0)
    with pytest.raises(ValueError, match="payload_limit must be an int >= 1024"):
        DurableAgent(Guarded, payload_limit=10)
    with pytest.raises(TypeError, match="payload_store must be a PayloadStore"):
        DurableAgent(Guarded, payload_store=object())  # type: ignore[arg-type]
    spec = DurableAgent(Guarded, not_idempotent={"add", "launch"})
    with pytest.raises(AgentkitError, match=r"does not have: \['launch'\]"):
        spec.instance()


def test_a_spec_builds_one_worker_agent_of_its_class() -> None:
    spec = DurableAgent(Guarded, name="guard")
    assert spec.workflow_name == "guard"
    assert spec.instance() is spec.instance()

    class Other(Agent):
        model = "m"

    wrong = DurableAgent(Guarded, build=lambda: Other(provider=ScriptedProvider([])))
    with pytest.raises(TypeError, match="returned Other, not a Guarded"):
        wrong.instance()


async def test_the_local_store_keeps_values_by_their_hash(tmp_path: Path) -> None:
    store = LocalPayloadStore(tmp_path / "store")
    with anyio.fail_after(10):
        key = await store.put(b"hello")
        assert key == hashlib.sha256(b"hello").hexdigest()
        assert await store.put(b"hello") == key, "a retried write is the same value"
        assert await store.get(key) == b"hello"
        with pytest.raises(KeyError, match="not in"):
            await store.get("0" * 64)
        with pytest.raises(ValueError, match="not a payload key"):
            await store.get("../etc/passwd")
    assert [p.name for p in (tmp_path / "store").iterdir()] == [key], "no partial file left"


blocks = st.one_of(
    st.text(min_size=1, max_size=3000).map(TextContent),
    st.text(alphabet="abcdef0123456789", min_size=1, max_size=3000).map(
        lambda data: ImageContent(data, "image/png")
    ),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.lists(blocks, min_size=1, max_size=5), limit=st.integers(1024, 2500))
def test_offloaded_blocks_come_back_whole_and_the_history_keeps_only_small_ones(
    tmp_path: Path, content: list[TextContent | ImageContent], limit: int
) -> None:
    from agentkit.temporal._payloads import json_size, offload_blocks, restore_context

    store = LocalPayloadStore(tmp_path / "p")

    async def check() -> None:
        raw = [block.to_dict() for block in content]
        kept = await offload_blocks(raw, limit, store, "a result")
        assert all(json_size(block) <= limit for block in kept)
        assert [b for b, k in zip(raw, kept, strict=True) if b == k] == [
            b for b in raw if json_size(b) <= limit
        ]
        message = ToolResultMessage.from_dict(
            {
                "role": "tool_result",
                "tool_call_id": "c",
                "tool_name": "t",
                "content": kept,
                "is_error": False,
            }
        )
        restored = await restore_context(Context(messages=(message,)), store)
        assert restored.messages[0].content == tuple(content)
        with (
            pytest.raises(PayloadTooLargeError)
            if any(json_size(b) > limit for b in raw)
            else _nothing()
        ):
            await offload_blocks(raw, limit, None, "a result")

    anyio.run(check)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@settings(max_examples=40, deadline=None)
@given(messages=conversations(), stop=st.sampled_from(list(StopReason)))
def test_a_run_result_survives_its_json_form(
    messages: tuple[Message, ...], stop: StopReason
) -> None:
    from agentkit.temporal._codec import result_from_dict, result_to_dict

    result = RunResult(messages, Usage(input=3, output=4, cost=0.25), stop)
    again = result_from_dict(json.loads(json.dumps(result_to_dict(result))))
    assert again == result


def test_limits_survive_their_json_form() -> None:
    from agentkit.temporal._codec import limits_from_dict, limits_to_dict

    limits = UsageLimits(requests=3, cost_usd=0.5, seconds=10.0, on_exceed="stop")
    assert limits_from_dict(json.loads(json.dumps(limits_to_dict(limits)))) == limits
    assert limits_from_dict(limits_to_dict(None)) is None


_json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_decisions = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.one_of(
        st.builds(Approval.approve),
        st.builds(Approval.deny, st.text(max_size=20)),
        st.builds(
            Approval.replace, st.dictionaries(st.text(max_size=5), _json_scalars, max_size=3)
        ),
    ),
    max_size=4,
)


@given(_decisions)
def test_decisions_survive_their_json_form(decisions: dict[str, Approval]) -> None:
    wire = json.loads(json.dumps(decisions_to_dict(decisions)))
    assert decisions_from_dict(wire) == decisions


@pytest.mark.parametrize(
    "bad",
    [[], {"c1": "approve"}, {"c1": {"kind": "maybe"}}, {"c1": {"kind": "approve", "x": 1}}],
)
def test_malformed_decisions_are_a_resume_error(bad: object) -> None:
    with pytest.raises(ResumeError):
        decisions_from_dict(bad)
    with pytest.raises(ResumeError):
        decisions_to_dict({"c1": "yes"})
