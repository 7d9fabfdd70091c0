"""The Python client beside the floor a Python programmer could write by
hand (plain msgpack over asyncio streams, no features), side by side in one
run against one server:

    cargo run --release --example demo_server -- --listen 127.0.0.1:4000
    python clients/python/bench/latency.py tcp://127.0.0.1:4000

Sequential `add` latency (median and p99 of each call) and pipelined
throughput (calls in flight at once on one connection), each measured in
rounds that alternate between the two, so that a slow moment of the machine
falls on both.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack

import dotrpc

CALLS = 2000
ROUNDS = 5
IN_FLIGHT = 64


class Floor:
    """msgpack-rpc by hand: a msgid, a dict of futures, one reader task."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.next = 0
        self.task = asyncio.get_running_loop().create_task(self.read())

    async def read(self) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        while data := await self.reader.read(65536):
            unpacker.feed(data)
            for _, msgid, error, result in unpacker:
                self.waiting.pop(msgid).set_result(result)

    async def call(self, path: str, *params: Any) -> Any:
        self.next += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[self.next] = future
        self.writer.write(msgpack.packb([0, self.next, path, list(params)]))
        return await future

    async def close(self) -> None:
        self.task.cancel()
        self.writer.close()


async def sequential(call: Callable[..., Awaitable[Any]]) -> list[float]:
    times = []
    for _ in range(CALLS):
        start = time.perf_counter()
        await call("add", 1, 2)
        times.append(time.perf_counter() - start)
    return times


async def pipelined(call: Callable[..., Awaitable[Any]]) -> float:
    start = time.perf_counter()
    for _ in range(CALLS // IN_FLIGHT):
        await asyncio.gather(*(call("add", 1, 2) for _ in range(IN_FLIGHT)))
    return (CALLS // IN_FLIGHT * IN_FLIGHT) / (time.perf_counter() - start)


async def main(url: str) -> None:
    host, _, port = url.removeprefix("tcp://").rpartition(":")
    client = await dotrpc.connect(url)
    floor = Floor(*await asyncio.open_connection(host, int(port)))
    lat: dict[str, list[float]] = {"dotrpc": [], "floor": []}
    rate: dict[str, list[float]] = {"dotrpc": [], "floor": []}
    for _ in range(ROUNDS):
        for name, call in (("dotrpc", client.call), ("floor", floor.call)):
            lat[name] += await sequential(call)
            rate[name].append(await pipelined(call))
    await client.close()
    await floor.close()
    for name in ("dotrpc", "floor"):
        times = sorted(lat[name])
        p50, p99 = statistics.median(times), times[int(len(times) * 0.99)]
        print(f"{name:7} add: median {p50 * 1e6:6.1f} us, p99 {p99 * 1e6:6.1f} us; "
              f"pipelined ({IN_FLIGHT} in flight): {statistics.median(rate[name]):8.0f} calls/s")
    ratio = statistics.median(lat["dotrpc"]) / statistics.median(lat["floor"])
    throughput = statistics.median(rate["dotrpc"]) / statistics.median(rate["floor"])
    print(f"dotrpc / floor: latency {ratio:.2f}x, pipelined throughput {throughput:.2f}x")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "tcp://127.0.0.1:4000"))
