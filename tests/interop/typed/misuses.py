"""Mistakes the generated module lets a type checker catch: `mypy --strict`
reports each line marked `# error`, and nothing else."""

from demo_api import DemoApi, Order


async def wrong(api: DemoApi) -> None:
    await api.add("one", 2)  # error
    await api.math.stats.mean(3.0)  # error
    await api.math.nope(1.0)  # error
    order: Order = {"lines": [], "ship_to": {"name": "Ada", "lines": []}}  # error
    bad: Order = {"lines": [], "discount": {"Percent": "ten"}, "ship_to": {"name": "", "lines": [], "country": ""}}  # error
    total: str = (await api.shop.quote(bad))["total_cents"]  # error
    print(order, total)
