"""Typed proxies: the demo API's module from `dotrpc describe --python`
(`tests/interop/typed/demo_api.py`) makes `client.api` typed, and a pinned
`mypy --strict` checks code that uses it (`tests/python.rs` runs mypy on
this file too)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "interop", "typed"))

from conftest import address  # noqa: E402
from demo_api import DemoApi, Order, Quote  # noqa: E402

import dotrpc  # noqa: E402


async def test_the_generated_types_describe_what_the_server_takes_and_gives() -> None:
    client: dotrpc.Client[DemoApi] = await dotrpc.connect(address("DOTRPC_TCP"), timeout=5.0)
    try:
        order: Order = {
            "lines": [{"item": {"sku": "b", "price_cents": 700, "kind": "Book"}, "quantity": 3}],
            "ship_to": {"name": "Ada", "lines": [], "country": "FR"},
        }
        quote: Quote = await client.api.shop.quote(order)
        assert quote == {"total_cents": 2100, "items": 3, "ship_to": "FR"}
        total: int = await client.api.add(1, 2)
        mean: float = await client.api.math.stats.mean([1.0, 2.0, 6.0])
        assert (total, mean) == (3, 3.0)
    finally:
        await client.close()
