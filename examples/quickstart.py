"""Quickstart: subclass Agent, give it two tools, and watch it stream, call tools and cache.

    python examples/quickstart.py          (or: make demo)

With no API key it talks to agentkit's local emulator of the OpenRouter API,
started in-process: offline, free, with Anthropic's caching rules. With
OPENROUTER_API_KEY set, the same code talks to OpenRouter (a few cents).
After every request it prints the tokens read from and written to the cache
and the cost; at the end, what caching saved.
"""

from __future__ import annotations

import anyio
from rich.console import Console

from agentkit import Agent, tool
from agentkit.cli.display import RunDisplay
from agentkit.cli.providers import open_session

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


class TravelAgent(Agent):
    """Plans a day out: knows the weather and adds up costs."""

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


async def main() -> None:
    console = Console(highlight=False)
    # The emulator without a key, OpenRouter with OPENROUTER_API_KEY.
    async with open_session() as session:
        console.print(f"[bold]agentkit quickstart[/] · {session.model} via {session.where}")
        agent = TravelAgent(provider=session.provider, model=session.model)
        display = RunDisplay(console)
        for question in QUESTIONS:
            console.rule(f"[bold]{question}")
            await display.show(agent.prompt(question))
        console.rule()
        display.print_summary()


if __name__ == "__main__":
    anyio.run(main)
