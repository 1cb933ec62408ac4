"""Quickstart: an agent with two tools, streaming, calling tools, and caching its prompt.

    python examples/quickstart.py          (or: make demo)

It talks to agentkit's local API emulator, started in-process: offline, free,
with Anthropic's caching rules, even when an API key is exported. With
AGENTKIT_LIVE=1 (and OPENROUTER_API_KEY) the same agent talks to OpenRouter
(a few cents); the first line says which. After every request it prints what
was read from and written to the prompt cache, and at the end what caching
saved. Only public API: ``agentkit`` and ``agentkit.testing.emulator``.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack

import anyio

from agentkit import (
    Agent,
    AssistantMessage,
    MessageEnd,
    MessageUpdate,
    OpenRouterProvider,
    Provider,
    TextDelta,
    ToolExecutionEnd,
    ToolExecutionStart,
    Usage,
    find_model,
    tool,
)
from agentkit.testing.emulator import Emulator

MODEL = "anthropic/claude-sonnet-4.5"

CITY_NOTES = {
    "Paris": "Museums close on Mondays or Tuesdays; book the Louvre online. The metro is "
    "fastest; avoid taxis at rush hour. Dinner starts late, around eight.",
    "Oslo": "Weather turns fast: pack a rain layer. The Oslo Pass covers museums and transit. "
    "Prices are high; lunch menus are the best value.",
    "Lisbon": "Hills are steep and cobbles slippery: wear good shoes. Tram 28 is crowded; walk "
    "the Alfama early. Many museums are free on the first Sunday.",
    "Kyoto": "Temples open early; arrive before eight to avoid crowds. Buses are slow at peak "
    "times; rent a bicycle. Many restaurants take cash only.",
    "Mexico City": "Altitude tires visitors: plan a slow first day. Use app taxis. Museums "
    "close on Mondays; the anthropology museum needs half a day.",
    "Cape Town": "Wind decides the day: check before the cable car. Sunset drives are busy. "
    "Book Robben Island days ahead.",
}

# A long, stable system prompt: the part of every request that caching saves.
# (Anthropic caches only prefixes above a model's minimum: 1,024 tokens here.)
SYSTEM_PROMPT = "\n\n".join(
    [
        "You are a careful travel planner. You plan single days out: what to see, in which "
        "order, how to get around, what it costs. Always check the weather with the "
        "get_weather tool before recommending outdoor plans, and use the add tool for every "
        "sum of money: never add numbers in your head. Answer in at most three sentences, "
        "with the total cost last.",
        "House rules: prefer walking and public transport; name opening-day traps; never "
        "invent prices; when a tool fails, say so and plan around it; keep the user's "
        "budget if they give one; suggest one indoor alternative when rain is likely.",
        *(f"Notes on {city}: {notes} " * 4 for city, notes in CITY_NOTES.items()),
    ]
)

QUESTIONS = [
    "I want a long walk by the river on Saturday: what is the weather in Paris?",
    "Add up my Paris day: museum 18.50 and dinner 42.",
    "And what's the weather in Oslo, in case I go there instead?",
]

WHAT_IS_CACHED = """\
What is cached: every request starts with the same prefix, the tool definitions
and the long system prompt, followed by the conversation so far. agentkit marks
the end of the prefix and the end of the conversation for the prompt cache: the
first request writes both, and every later request reads everything the one
before wrote and writes only the new turns.
In each request line, `input` is the UNCACHED input (full price), `cache read`
came from the cache (a tenth of the input price) and `cache write` went into it
(1.25 times the input price)."""


class TravelAgent(Agent):
    """Plans a day out: knows the weather and adds up costs."""

    model = MODEL
    system_prompt = SYSTEM_PROMPT

    @tool
    def get_weather(self, city: str) -> dict[str, object]:
        """Today's weather in a city.

        Args:
            city: The city name, for example "Paris".
        """
        forecasts = {"paris": ("sunny", 24), "oslo": ("rain", 9)}
        sky, celsius = forecasts.get(city.lower(), ("cloudy", 15))
        return {"city": city, "sky": sky, "celsius": celsius}

    @tool
    async def add(self, a: float, b: float) -> float:
        """Add two amounts of money.

        Args:
            a: The first amount.
            b: The second amount.
        """
        return round(a + b, 2)


def live_requested() -> bool:
    """AGENTKIT_LIVE=1 asks for a real service; 0 or unset, the emulator."""
    value = os.environ.get("AGENTKIT_LIVE", "").strip()
    if value not in ("", "0", "1"):
        raise SystemExit(f"AGENTKIT_LIVE={value!r}: use 1 for a real service, 0 for the emulator")
    return value == "1"


async def open_provider(stack: AsyncExitStack) -> Provider:
    """The provider to use, closed with ``stack``; prints where requests go."""
    if live_requested():
        print(f"agentkit quickstart · LIVE · {MODEL} via OpenRouter (billed to OPENROUTER_API_KEY)")
        return await stack.enter_async_context(OpenRouterProvider())
    emulator = await stack.enter_async_context(Emulator())
    print(
        f"agentkit quickstart · offline · {MODEL} via the local emulator at "
        f"{emulator.base_url} (free; AGENTKIT_LIVE=1 for a real service)"
    )
    return await stack.enter_async_context(emulator.openrouter_provider())


def describe(number: int, usage: Usage) -> str:
    """One request's tokens and cost, and what the cache did."""
    line = (
        f"  request {number}: input {usage.input:,} · cache read {usage.cache_read:,} "
        f"· cache write {usage.cache_write:,} · output {usage.output:,} · {dollars(usage)}"
    )
    if usage.cache_read == 0 and usage.cache_write:
        what = f"wrote the prefix and the conversation to the cache ({usage.cache_write:,} tokens)"
    elif usage.cache_read:
        what = (
            f"read {usage.cache_read:,} tokens from the cache, "
            f"wrote the {usage.cache_write:,} new ones"
        )
    else:
        what = "nothing read from or written to the cache"
    return f"{line}\n    ↳ {what}"


def dollars(usage: Usage) -> str:
    """The cost for a person: unknown is "unknown", never "$0"."""
    shown = "unknown" if usage.cost is None else f"${usage.cost:.6f}"
    return f"{shown} (partial)" if usage.partial else shown


def uncached_cost(usage: Usage) -> float | None:
    """What the same tokens would cost with no caching, at the model's list prices."""
    info = find_model(MODEL)
    if info is None or info.input_price is None or info.output_price is None:
        return None
    return (usage.prompt * info.input_price + usage.output * info.output_price) / 1_000_000


def print_summary(requests: list[Usage]) -> None:
    header = ("request", "input (uncached)", "cache read", "cache write", "output", "cost")
    total = sum(requests, start=Usage())
    rows = [
        [label, f"{u.input:,}", f"{u.cache_read:,}", f"{u.cache_write:,}", f"{u.output:,}"]
        for label, u in [*((str(n), u) for n, u in enumerate(requests, 1)), ("total", total)]
    ]
    for row, u in zip(rows, [*requests, total], strict=True):
        row.append(dollars(u))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    without = uncached_cost(total)
    if without is None or without <= 0 or total.cost is None:
        print(f"Cost unknown for {MODEL}: the saving is unknown.")
        return
    saved = without - total.cost
    print(
        f"Caching saved ${saved:.6f} ({saved / without:.0%}): ${total.cost:.6f} instead of "
        f"${without:.6f} without caching;\n"
        f"{total.cache_read:,} of {total.prompt:,} prompt tokens came from the cache."
    )
    if total.input == 0:
        print("`input` is 0 on every row: each prompt token was read from or written to the cache.")


async def main() -> None:
    async with AsyncExitStack() as stack:
        provider = await open_provider(stack)
        print(WHAT_IS_CACHED)
        agent = TravelAgent(provider=provider)
        requests: list[Usage] = []
        for question in QUESTIONS:
            print(f"\n> {question}")
            async with agent.prompt(question) as stream:
                async for event in stream:
                    match event:
                        case MessageUpdate(delta=TextDelta(text=text)):
                            print(text, end="", flush=True)
                        case MessageEnd(message=AssistantMessage(usage=usage)):
                            requests.append(usage)
                            print(f"\n{describe(len(requests), usage)}")
                        case ToolExecutionStart(call=call):
                            arguments = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
                            print(f"  tool {call.name}({arguments})")
                        case ToolExecutionEnd(call=call, result=result):
                            print(f"  → {call.name}: {result.text}")
        print()
        print_summary(requests)


if __name__ == "__main__":
    anyio.run(main)
