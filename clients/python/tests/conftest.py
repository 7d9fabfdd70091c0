"""What the suite runs against: the demo server (`examples/demo_server`),
which `tests/python.rs` serves and names in DOTRPC_TCP, DOTRPC_UNIX,
DOTRPC_WS and DOTRPC_NATS; and scripted servers of the suite's own, for
what the demo server never does (break the protocol, vanish mid-stream).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgpack
import pytest

import dotrpc


def address(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.skip(f"{name} is not set: tests/python.rs names the demo server's addresses")
    return value


TRANSPORTS = ["DOTRPC_TCP", "DOTRPC_UNIX", "DOTRPC_WS"]


@pytest.fixture(params=TRANSPORTS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[dotrpc.Client[Any]]:
    """A client of the demo server over each transport, closed after."""
    async with await dotrpc.connect(address(request.param), timeout=5.0) as client:
        yield client


@pytest.fixture
async def tcp_client() -> AsyncIterator[dotrpc.Client[Any]]:
    async with await dotrpc.connect(address("DOTRPC_TCP"), timeout=5.0) as client:
        yield client


class Conn:
    """One connection to a scripted server, as the script sees it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)

    async def receive(self, timeout: float = 5.0) -> Any:
        """The next message from the client (its hello skipped)."""
        while True:
            message = await asyncio.wait_for(self._next(), timeout)
            if message[:2] != [2, "rpc.hello"]:
                return message

    async def _next(self) -> Any:
        while True:
            for message in self.unpacker:
                return message
            data = await self.reader.read(65536)
            if not data:
                raise EOFError
            self.unpacker.feed(data)

    def send(self, message: Any) -> None:
        self.writer.write(msgpack.packb(message, use_bin_type=True))

    def raw(self, data: bytes) -> None:
        self.writer.write(data)

    def hello(self, *features: str) -> None:
        self.send([2, "rpc.hello", [{"dotrpc": 1, "features": list(features)}]])

    def close(self) -> None:
        self.writer.close()


Play = Callable[[Conn], Awaitable[None]]


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Play], Awaitable[str]]]:
    """Starts servers on 127.0.0.1 whose every connection runs a script;
    gives their address; stops them (and their connections) after."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(play: Play) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = Conn(reader, writer)
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await play(conn)
            except (EOFError, ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()
                tasks.discard(task)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"tcp://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for server in servers:
        await server.wait_closed()


async def hello_heard(client: dotrpc.Client[Any]) -> None:
    """Waits (at most 5 s) until the client has the server's hello."""
    for _ in range(500):
        if client._features:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server's hello never arrived")


def no_tasks_left(client: dotrpc.Client[Any]) -> bool:
    """Whether a closed client left no task behind."""
    return not client._tasks
