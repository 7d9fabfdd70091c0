"""The Python client's features, each in a few lines, against the demo
server:

    cargo run --example demo_server -- --listen 127.0.0.1:4000
    python clients/python/examples/quickstart.py tcp://127.0.0.1:4000
"""

from __future__ import annotations

import asyncio
import sys

import dotrpc


async def main(url: str) -> None:
    async with await dotrpc.connect(url, timeout=5.0) as client:
        # Nested proxies call dot-joined paths.
        print("add(1, 2) =", await client.api.add(1, 2))
        print("math.stats.mean([1, 2, 6]) =", await client.api.math.stats.mean([1, 2, 6]))

        # Errors are RpcErrors with the server's code, message and data.
        try:
            await client.api.math.div(1, 0)
        except dotrpc.RpcError as error:
            print(f"math.div(1, 0) failed: {error.code}: {error.message}")
        try:
            await client.with_timeout(0.1).sleep(1000)
        except dotrpc.Timeout:
            print("sleep(1000) timed out after 0.1 s (and the server was told)")

        # The server calls back what the client serves, and sends it events.
        client.serve({"client": {"name": lambda: "quickstart.py"}})
        print("greet() =", await client.api.greet())
        ticks = client.events("events.tick")
        await client.api.events.subscribe.notify(3)
        print("events:", [await ticks.__anext__() for _ in range(3)])
        await ticks.aclose()

        # Streams, with credit: answers, input, both ways.
        print("count(5):", [i async for i in client.stream("count", 5, 0, window=2)])
        async with client.upload("sum") as up:
            for i in range(1, 11):
                await up.send(i)
        print("sum(1..10) =", await up.result())
        async with client.conversation("double") as talk:
            for i in range(3):
                await talk.send(i)
            await talk.end()
            print("double:", [x async for x in talk])

        # Nested structs and enums are dicts, as the generated types say.
        order = {
            "lines": [{"item": {"sku": "b1", "price_cents": 1250, "kind": "Book"}, "quantity": 2}],
            "discount": {"Percent": 10},
            "ship_to": {"name": "Ada", "lines": ["1 Road"], "country": "UK"},
        }
        print("shop.quote:", await client.api.shop.quote(order))

    # A blocking client for scripts: calls return values.
    with dotrpc.connect_sync(url) as blocking:
        print("blocking add(2, 3) =", blocking.api.add(2, 3))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:4000"))
