"""The client against scripted servers: the dotrpc hello, cancels and
deadlines, credit, and servers that break the protocol, vanish or never
answer (PROTOCOL.md §3, §6 to §11, §15)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import Conn, Play, hello_heard, no_tasks_left

import dotrpc

Start = Callable[[Play], Awaitable[str]]


async def test_a_call_given_up_is_cancelled_and_carries_its_deadline(scripted: Start) -> None:
    seen: asyncio.Queue[Any] = asyncio.Queue()

    async def play(conn: Conn) -> None:
        conn.hello("cancel", "deadline")
        while True:
            seen.put_nowait(await conn.receive(10))

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    await hello_heard(client)
    with pytest.raises(dotrpc.Timeout):
        await client.call("slow", 1, timeout=0.2)
    request = await asyncio.wait_for(seen.get(), 5)
    assert request[:4] == [0, request[1], "slow", [1]]
    assert request[4] == {"deadline_ms": 200}
    assert await asyncio.wait_for(seen.get(), 5) == [2, "rpc.cancel", [request[1]]]
    await client.close()


async def test_a_plain_msgpack_rpc_server_sees_no_extension(scripted: Start) -> None:
    seen: asyncio.Queue[Any] = asyncio.Queue()

    async def play(conn: Conn) -> None:
        while True:
            seen.put_nowait(await conn.receive(10))

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    with pytest.raises(dotrpc.Timeout):
        await client.call("slow", timeout=0.1)
    assert await asyncio.wait_for(seen.get(), 5) == [0, 1, "slow", []], "no metadata"
    await client.notify("after")
    assert await asyncio.wait_for(seen.get(), 5) == [2, "after", []], "and no cancel"
    await client.close()


async def test_late_and_made_up_answers_are_dropped(scripted: Start) -> None:
    async def play(conn: Conn) -> None:
        calls = {}
        for _ in range(2):
            request = await conn.receive()
            calls[request[2]] = request
        first, second = calls["first"], calls["second"]
        conn.send([1, 999, None, "made up"])
        conn.send([1, second[1], None, "second"])
        await asyncio.sleep(0.3)
        conn.send([1, first[1], None, "too late"])
        third = await conn.receive()
        conn.send([1, third[1], None, "third"])
        await conn.receive(10)

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    first = asyncio.ensure_future(client.call("first", timeout=0.1))
    assert await client.call("second") == "second"
    with pytest.raises(dotrpc.Timeout):
        await first
    await asyncio.sleep(0.4)
    assert await client.call("third") == "third"
    await client.close()


@pytest.mark.parametrize(
    "junk",
    [
        [1, 1, None],  # a response of three items
        [1, "one", None, 1],  # a msgid that is not an integer
        [7, 1, 2, 3],  # no such kind
        "not a message",
    ],
)
async def test_a_message_of_the_wrong_shape_ends_the_connection_and_its_calls(scripted: Start, junk: Any) -> None:
    async def play(conn: Conn) -> None:
        await conn.receive()
        conn.send(junk)
        await conn.receive(10)

    statuses: list[tuple[str, str | None]] = []
    client = await dotrpc.connect(await scripted(play), timeout=5.0, on_status=lambda s, r: statuses.append((s, r)))
    with pytest.raises(dotrpc.Disconnected) as error:
        await client.call("x")
    assert "broke the protocol" in str(error.value)
    assert statuses[-1][0] == "disconnected"
    await client.close()
    assert no_tasks_left(client)


async def test_bytes_that_are_not_msgpack_end_the_connection(scripted: Start) -> None:
    async def play(conn: Conn) -> None:
        await conn.receive()
        conn.raw(b"\xc1\xc1\xc1")  # never used in msgpack
        await conn.receive(10)

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    with pytest.raises(dotrpc.Disconnected) as error:
        await client.call("x")
    assert "not msgpack" in str(error.value)
    await client.close()


async def test_a_call_never_answered_times_out(scripted: Start) -> None:
    async def play(conn: Conn) -> None:
        while True:
            await conn.receive(10)

    client = await dotrpc.connect(await scripted(play), timeout=0.2)
    with pytest.raises(dotrpc.Timeout):
        await client.call("forever")
    await client.close()
    assert no_tasks_left(client)


async def test_a_server_that_vanishes_mid_stream_ends_it_with_an_error(scripted: Start) -> None:
    async def play(conn: Conn) -> None:
        request = await conn.receive()
        assert request[4] == {"credit": 4}
        conn.send([2, "rpc.item", [request[1], "one"]])
        conn.send([2, "rpc.item", [request[1], "two"]])
        await conn.writer.drain()
        conn.close()

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    taken = []
    with pytest.raises(dotrpc.Disconnected):
        async for item in client.stream("items", window=4):
            taken.append(item)
    assert taken == ["one", "two"], "the items that came are kept"
    await client.close()


async def test_credit_is_granted_as_items_are_taken_and_an_overrun_ends_the_stream(scripted: Start) -> None:
    seen: asyncio.Queue[Any] = asyncio.Queue()
    overrun_sent = asyncio.Event()

    async def play(conn: Conn) -> None:
        request = await conn.receive()
        msgid = request[1]
        for i in range(4):
            conn.send([2, "rpc.item", [msgid, i]])
        credit = await conn.receive()
        seen.put_nowait(credit)
        # Two more granted: three sent, one too many.
        for i in range(4, 7):
            conn.send([2, "rpc.item", [msgid, i]])
        await conn.writer.drain()
        overrun_sent.set()
        seen.put_nowait(await conn.receive())
        await conn.receive(10)

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    stream = client.stream("items", window=4)
    items = stream.__aiter__()
    taken = [await items.__anext__(), await items.__anext__()]
    # Two taken, two granted: six in all. The consumer takes no more until
    # the server has sent its seventh and the client has read it.
    await asyncio.wait_for(overrun_sent.wait(), 5)
    state = stream._state
    assert state is not None
    for _ in range(500):
        if state.ended:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(dotrpc.RpcError) as error:
        async for item in items:
            taken.append(item)
    assert error.value.code == "Codec" and "more than" in error.value.message
    credit = await asyncio.wait_for(seen.get(), 5)
    assert credit[:2] == [2, "rpc.credit"] and credit[2][1] == 2, "half a window at a time"
    assert await asyncio.wait_for(seen.get(), 5) == [2, "rpc.cancel", [credit[2][0]]]
    assert taken == [0, 1, 2, 3, 4, 5], "the items within the credit are kept"
    await client.close()


async def test_lag_is_visible(scripted: Start) -> None:
    async def play(conn: Conn) -> None:
        request = await conn.receive()
        conn.send([2, "rpc.lagged", [request[1], 5]])
        conn.send([2, "rpc.item", [request[1], "latest"]])
        conn.send([1, request[1], None, None])
        await conn.receive(10)

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    stream = client.stream("latest", window=1)
    assert [item async for item in stream] == ["latest"]
    assert stream.lagged == 5
    await client.close()


async def test_an_upload_waits_for_room_and_stops_when_answered(scripted: Start) -> None:
    seen: asyncio.Queue[Any] = asyncio.Queue()

    async def play(conn: Conn) -> None:
        request = await conn.receive()
        assert request[4] == {"credit": 0}, "marked as a stream call"
        msgid = request[1]
        await asyncio.sleep(0.1)
        seen.put_nowait("granting")
        conn.send([2, "rpc.input_credit", [msgid, 2]])
        seen.put_nowait(await conn.receive())
        seen.put_nowait(await conn.receive())
        conn.send([1, msgid, None, "enough"])
        await conn.receive(10)

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    up = client.upload("take")
    await up.send("a")  # waits for the grant
    assert await asyncio.wait_for(seen.get(), 5) == "granting"
    await up.send("b")
    assert (await seen.get())[1:] == ["rpc.input", [1, "a"]]
    assert (await seen.get())[1:] == ["rpc.input", [1, "b"]]
    assert await up.result(5) == "enough"
    with pytest.raises(dotrpc.Cancelled):
        await up.send("c")
    await client.close()


async def test_the_servers_calls_with_bad_params_or_paths_are_refused(scripted: Start) -> None:
    answers: asyncio.Queue[Any] = asyncio.Queue()

    async def play(conn: Conn) -> None:
        conn.send([0, 1, "client.name", "not an array"])
        conn.send([0, 2, "nobody.serves", []])
        conn.send([0, 3, "client.name", ["one too many"]])
        conn.send([0, 4, "client.name", []])
        for _ in range(4):
            answers.put_nowait(await conn.receive())
        await conn.receive(10)

    client = await dotrpc.connect(await scripted(play), timeout=5.0)
    client.handle("client.name", lambda: "me")
    got = {}
    for _ in range(4):
        answer = await asyncio.wait_for(answers.get(), 5)
        got[answer[1]] = answer
    assert got[1][2]["code"] == "InvalidParams"
    assert got[2][2]["code"] == "UnknownApi" and "nobody.serves" in got[2][2]["message"]
    assert got[3][2]["code"] == "InvalidParams"
    assert got[4] == [1, 4, None, "me"]
    await client.close()


async def test_a_lost_connection_is_redialled_and_idempotent_calls_sent_again(scripted: Start) -> None:
    connections = 0

    async def play(conn: Conn) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            # Takes both calls, answers neither, and drops the connection.
            await conn.receive()
            await conn.receive()
            conn.close()
            return
        request = await conn.receive()
        conn.send([1, request[1], None, f"answered {request[2]}"])
        await conn.receive(10)

    statuses: list[str] = []
    url = await scripted(play)
    client = await dotrpc.connect(url, timeout=5.0, reconnect=dotrpc.Reconnect(initial=0.01), on_status=lambda s, r: statuses.append(s))
    again = asyncio.ensure_future(client.call("again", idempotent=True))
    once = asyncio.ensure_future(client.call("once"))
    with pytest.raises(dotrpc.Disconnected):
        await once
    assert await again == "answered again"
    assert statuses[:2] == ["connecting", "connected"]
    assert "disconnected" in statuses and "reconnecting" in statuses
    assert statuses[-1] == "connected"
    await client.close()


async def test_it_gives_up_after_its_attempts() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    statuses: list[str] = []
    client = await dotrpc.connect(
        f"tcp://127.0.0.1:{port}",
        timeout=1.0,
        reconnect=dotrpc.Reconnect(attempts=2, initial=0.01),
        on_status=lambda s, r: statuses.append(s),
    )
    for _ in range(500):
        if accepted:
            break
        await asyncio.sleep(0.01)
    # The server goes away for good.
    server.close()
    await server.wait_closed()
    for writer in accepted:
        writer.close()
    for _ in range(500):
        if "gave_up" in statuses:
            break
        await asyncio.sleep(0.01)
    assert statuses == ["connecting", "connected", "disconnected", "reconnecting", "reconnecting", "gave_up"]
    assert client.is_closed
    with pytest.raises(dotrpc.Disconnected):
        await client.call("x")
    await client.close()
    assert no_tasks_left(client)


async def test_the_trace_context_goes_to_a_server_that_takes_it(
    scripted: Start, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An OpenTelemetry stand-in whose propagator writes a fixed context: the
    # client's part is to ask it, and send what it wrote only where taken.
    package = tmp_path / "opentelemetry"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "propagate.py").write_text(
        "def inject(carrier):\n"
        "    carrier['traceparent'] = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'\n"
        "    carrier['other'] = 'not sent'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(dotrpc._client, "_PROPAGATE", None)
    seen: asyncio.Queue[Any] = asyncio.Queue()

    def server(*features: str) -> Play:
        async def play(conn: Conn) -> None:
            conn.hello(*features)
            request = await conn.receive()
            seen.put_nowait(request)
            conn.send([1, request[1], None, 1])
            await conn.receive(10)

        return play

    for features, sent in ((("trace",), True), ((), False)):
        client = await dotrpc.connect(await scripted(server(*features)), timeout=5.0)
        if features:
            await hello_heard(client)
        await client.call("traced")
        request = await asyncio.wait_for(seen.get(), 5)
        meta = request[4] if len(request) > 4 else {}
        assert ("traceparent" in meta) == sent, (features, request)
        assert "other" not in meta
        await client.close()
