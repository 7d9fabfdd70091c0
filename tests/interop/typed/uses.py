"""Code a Python programmer writes against the demo API's generated module
(`demo_api.py`, from `dotrpc describe --python`): `mypy --strict` passes it."""

from demo_api import DemoApi, Item, Order, Quote, ShopError


async def price(api: DemoApi) -> int:
    gift: Item = {"sku": "t1", "price_cents": 500, "kind": {"Toy": {"min_age": 3}}, "tags": ["wood"]}
    order: Order = {
        "lines": [
            {"item": {"sku": "b1", "price_cents": 1250, "kind": "Book"}, "quantity": 2},
            {"item": {"sku": "g1", "price_cents": 0, "kind": {"Gift": gift}}, "quantity": 1},
            {"item": {"sku": "f1", "price_cents": 100, "kind": {"Food": ("apple", True)}}, "quantity": 3},
        ],
        "discount": {"Percent": 10},
        "ship_to": {"name": "Ada", "lines": ["1 Road"], "country": "UK"},
    }
    quote: Quote = await api.shop.quote(order)
    mean: float = await api.math.stats.mean([1.0, 2.0, 6.0])
    rounded: float = await api.math.round(2.567)
    await api.log({"any": "value"})
    return quote["total_cents"] + await api.add(1, 2) + int(mean + rounded)


def explain(error: ShopError) -> str:
    if error == "EmptyOrder":
        return "an order needs a line"
    return f"no discount code {error['UnknownCode']['code']}"
