"""The client against the demo API served on NATS (PROTOCOL.md §13):
calls, errors, notifications and events, and a prefix nobody serves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import address

import dotrpc


@pytest.fixture
async def nats_client() -> AsyncIterator[dotrpc.Client[Any]]:
    async with await dotrpc.connect(address("DOTRPC_NATS"), timeout=5.0) as client:
        yield client


async def test_calls_and_errors_cross_nats(nats_client: dotrpc.Client[Any]) -> None:
    assert await nats_client.api.add(1, 2) == 3
    assert await nats_client.api.math.stats.mean([1, 2, 6]) == 3.0
    with pytest.raises(dotrpc.RpcError) as div:
        await nats_client.api.math.div(1, 0)
    assert (div.value.code, div.value.data) == ("Application", "division by zero")
    with pytest.raises(dotrpc.RpcError) as unknown:
        await nats_client.api.no.such.path()
    assert unknown.value.code == "UnknownApi"
    with pytest.raises(dotrpc.Timeout):
        await nats_client.with_timeout(0.1).sleep(2000)


async def test_notifications_and_events_cross_nats(nats_client: dotrpc.Client[Any]) -> None:
    before = await nats_client.api.stats.notifications()
    await nats_client.api.log.notify("from python")
    for _ in range(100):
        if await nats_client.api.stats.notifications() > before:
            break
        await asyncio.sleep(0.02)
    assert await nats_client.api.stats.notifications() > before
    ticks: asyncio.Queue[int] = asyncio.Queue()
    nats_client.on("events.tick", ticks.put_nowait)
    await nats_client.listening()  # subscribed on the NATS server
    await nats_client.api.events.subscribe.notify(2)
    assert [await asyncio.wait_for(ticks.get(), 5) for _ in range(2)] == [0, 1]


async def test_a_prefix_nobody_serves_has_no_responders() -> None:
    base = address("DOTRPC_NATS").rsplit("/", 1)[0]
    async with await dotrpc.connect(f"{base}/nobody", timeout=5.0) as client:
        with pytest.raises(dotrpc.NoResponders):
            await asyncio.wait_for(client.api.add(1, 2), 2)


async def test_streams_cross_nats_with_their_credit(nats_client: dotrpc.Client[Any]) -> None:
    assert [i async for i in nats_client.stream("count", 50, 0, window=4)] == list(range(50))
    taken = []
    async for i in nats_client.stream("count", 1_000_000, 0, window=8):
        taken.append(i)
        if i == 2:
            break
    assert taken == [0, 1, 2]
    async with nats_client.upload("sum") as up:
        for i in range(1, 101):
            await up.send(i)
    assert await up.result(5) == 5050
    async with nats_client.conversation("double", window=4) as talk:
        for i in range(5):
            await talk.send(i)
        await talk.end()
        assert [x async for x in talk] == [0, 2, 4, 6, 8]
    assert await nats_client.api.add(1, 1) == 2
