"""The client against the demo server, over TCP, a Unix socket and a
WebSocket: every feature a program uses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import address, no_tasks_left

import dotrpc


async def test_nested_calls_answer_with_their_results(client: dotrpc.Client[Any]) -> None:
    assert await client.api.add(40, 2) == 42
    assert await client.api.math.stats.mean([1, 2, 6]) == 3.0
    assert await client.api.math.div(1, 4) == 0.25
    assert await client.api.math.round(2.567) == 3.0, "a trailing optional param left out"
    assert await client.api.math.round(2.567, 2) == 2.57
    assert await client.call("add", 1, 2) == 3, "by path too"
    assert await client.api.echo(b"\x00\x01\xff") == b"\x00\x01\xff", "bytes are bytes"
    assert await client.api.echo({"k": [1, None, "x"]}) == {"k": [1, None, "x"]}


async def test_errors_carry_the_servers_code_message_and_data(client: dotrpc.Client[Any]) -> None:
    with pytest.raises(dotrpc.RpcError) as div:
        await client.api.math.div(1, 0)
    assert (div.value.code, div.value.message, div.value.data) == ("Application", "division by zero", "division by zero")
    with pytest.raises(dotrpc.RpcError) as unknown:
        await client.api.no.such.method()
    assert unknown.value.code == "UnknownApi" and "no.such.method" in unknown.value.message
    with pytest.raises(dotrpc.RpcError) as invalid:
        await client.api.add("one", 2)
    assert invalid.value.code == "InvalidParams"


async def test_nested_structs_and_enums_go_both_ways(client: dotrpc.Client[Any]) -> None:
    order = {
        "lines": [
            {"item": {"sku": "b1", "price_cents": 1250, "kind": "Book"}, "quantity": 2},
            {
                "item": {"sku": "g1", "price_cents": 0, "kind": {"Gift": {"sku": "t1", "price_cents": 500, "kind": {"Toy": {"min_age": 3}}}}},
                "quantity": 1,
            },
            {"item": {"sku": "f1", "price_cents": 100, "kind": {"Food": ["apple", True]}}, "quantity": 3},
        ],
        "discount": {"Percent": 10},
        "ship_to": {"name": "Ada", "lines": ["1 Road"], "country": "UK"},
    }
    assert await client.api.shop.quote(order) == {"total_cents": 2970, "items": 6, "ship_to": "UK"}
    order["discount"] = {"Code": {"code": "NOPE"}}
    with pytest.raises(dotrpc.RpcError) as error:
        await client.api.shop.quote(order)
    assert error.value.data == {"UnknownCode": {"code": "NOPE"}}


async def test_a_call_past_its_timeout_fails_and_the_connection_goes_on(client: dotrpc.Client[Any]) -> None:
    with pytest.raises(dotrpc.Timeout) as late:
        await client.with_timeout(0.05).sleep(2000)
    assert isinstance(late.value, TimeoutError), "caught as Python's own TimeoutError too"
    with pytest.raises(TimeoutError):
        await client.call("sleep", 2000, timeout=0.05)
    assert await client.api.add(1, 1) == 2


async def test_notifications_reach_the_server(client: dotrpc.Client[Any]) -> None:
    before = await client.api.stats.notifications()
    await client.api.log.notify("a line")
    await client.notify("log", "another")
    for _ in range(100):
        if await client.api.stats.notifications() >= before + 2:
            break
        await asyncio.sleep(0.01)
    assert await client.api.stats.notifications() >= before + 2


async def test_events_the_server_sends_reach_listeners_and_iterators(client: dotrpc.Client[Any]) -> None:
    heard: list[int] = []
    stop = client.on("events.tick", heard.append)
    ticks = client.events("events.tick")
    await client.api.events.subscribe.notify(3)
    taken = [await asyncio.wait_for(ticks.__anext__(), 5) for _ in range(3)]
    assert taken == [[0], [1], [2]]
    assert heard == [0, 1, 2]
    stop()
    await client.api.events.subscribe.notify(1)
    assert await asyncio.wait_for(ticks.__anext__(), 5) == [0]
    assert heard == [0, 1, 2], "a stopped listener hears no more"
    await ticks.aclose()


async def test_the_server_calls_handlers_the_client_serves(client: dotrpc.Client[Any]) -> None:
    client.serve({"client": {"name": lambda: "notebook"}})
    assert await client.api.greet() == "hello, notebook"

    async def refuse() -> str:
        raise dotrpc.RpcError("Application", "no names today")

    client.handle("client.name", refuse)
    with pytest.raises(dotrpc.RpcError) as error:
        await client.api.greet()
    assert error.value.code == "Application" and "no names today" in error.value.message


async def test_a_stream_comes_as_it_is_taken_and_leaving_the_loop_cancels_it(client: dotrpc.Client[Any]) -> None:
    assert [i async for i in client.stream("count", 100, 0, window=4)] == list(range(100))
    taken = []
    async for i in client.stream("count", 1_000_000, 0, window=8):
        taken.append(i)
        if i == 2:
            break
    assert taken == [0, 1, 2]
    for _ in range(100):
        if not client._streams:
            break
        await asyncio.sleep(0.01)
    assert not client._streams, "the stream was given up"
    assert await client.api.add(2, 2) == 4


async def test_an_upload_sends_its_items_as_the_server_takes_them(client: dotrpc.Client[Any]) -> None:
    async with client.upload("sum") as up:
        for i in range(1, 101):
            await up.send(i)
    assert await up.result(5) == 5050


async def test_a_conversation_streams_both_ways(client: dotrpc.Client[Any]) -> None:
    async with client.conversation("double", window=4) as talk:
        answers = []
        for i in range(10):
            await talk.send(i)
        await talk.end()
        async for doubled in talk:
            answers.append(doubled)
    assert answers == [i * 2 for i in range(10)]
    assert await talk.result(5) is None


async def test_closing_fails_waiting_calls_and_leaves_no_task() -> None:
    client = await dotrpc.connect(address("DOTRPC_TCP"), timeout=5.0)
    waiting = asyncio.ensure_future(client.api.sleep(5000))
    await asyncio.sleep(0.05)
    await client.close()
    with pytest.raises(dotrpc.Disconnected):
        await waiting
    assert no_tasks_left(client)
    with pytest.raises(dotrpc.Disconnected):
        await client.api.add(1, 2)


async def test_an_address_nobody_listens_at_fails_at_once() -> None:
    with pytest.raises(dotrpc.Disconnected) as error:
        await dotrpc.connect("tcp://127.0.0.1:1", timeout=5.0)
    assert "cannot connect" in str(error.value)
    with pytest.raises(ValueError):
        await dotrpc.connect("carrier-pigeon://coop")


def test_the_blocking_client_returns_values() -> None:
    with dotrpc.connect_sync(address("DOTRPC_TCP"), timeout=5.0) as client:
        assert client.api.add(1, 2) == 3
        assert client.api.math.stats.mean([1, 2, 6]) == 3.0
        assert list(client.stream("count", 3, 0)) == [0, 1, 2]
        with pytest.raises(dotrpc.RpcError):
            client.api.math.div(1, 0)
        with pytest.raises(dotrpc.Timeout):
            client.with_timeout(0.05).sleep(1000)
        client.handle("client.name", lambda: "script")
        assert client.api.greet() == "hello, script"
