"""Links: the transports a client speaks msgpack-rpc over, each moving
whole messages (Python lists) both ways.

Byte streams (TCP, Unix sockets) carry messages back to back, as msgpack
values; a WebSocket carries one message per binary message; NATS maps each
message to its subjects (see ``_nats``).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import msgpack

# What a link reads at once, and how large one message may be.
_READ = 64 * 1024
MAX_MESSAGE = 64 * 1024 * 1024


class ProtocolError(Exception):
    """What came cannot be read as msgpack-rpc: the connection ends."""


def pack(message: Any) -> bytes:
    packed: bytes = msgpack.packb(message, use_bin_type=True)
    return packed


def unpacker() -> msgpack.Unpacker:
    return msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=MAX_MESSAGE)


class Link:
    """Moves messages; `receive` raises ``EOFError`` when the other side
    closed, ``ProtocolError`` when it sent what is not msgpack. A link that
    `writes_at_once` takes messages with `write`, without waiting (into
    the socket's buffer); the others only with `send`."""

    writes_at_once = False

    def write(self, message: list[Any]) -> None:
        raise NotImplementedError

    async def send(self, message: list[Any]) -> None:
        raise NotImplementedError

    async def receive(self) -> Any:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class StreamLink(Link):
    """A byte stream: TCP or a Unix socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._unpacker = unpacker()
        # The first message of a turn of the event loop goes out at once;
        # those after it in the same turn go out together at its end, in
        # one system call (many calls made at once, say).
        self._corked = bytearray()
        self._turn = False

    writes_at_once = True

    def write(self, message: list[Any]) -> None:
        if self._turn:
            self._corked += pack(message)
            return
        self._writer.write(pack(message))
        self._turn = True
        asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._turn = False
        if self._corked and not self._writer.is_closing():
            self._writer.write(bytes(self._corked))
        self._corked.clear()

    async def send(self, message: list[Any]) -> None:
        self._flush()
        self._writer.write(pack(message))
        await self._writer.drain()

    async def receive(self) -> Any:
        while True:
            try:
                return next(self._unpacker)
            except StopIteration:
                pass
            except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
                raise ProtocolError(f"not msgpack: {e}") from e
            data = await self._reader.read(_READ)
            if not data:
                raise EOFError("the server closed the connection")
            try:
                self._unpacker.feed(data)
            except msgpack.BufferFull as e:
                raise ProtocolError(f"a message over {MAX_MESSAGE} bytes") from e

    async def close(self) -> None:
        self._flush()
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


class WebSocketLink(Link):
    """A WebSocket: one msgpack-rpc message per binary message."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket

    async def send(self, message: list[Any]) -> None:
        await self._socket.send(pack(message))

    async def receive(self) -> Any:
        from websockets.exceptions import ConnectionClosed

        try:
            data = await self._socket.recv()
        except ConnectionClosed as e:
            raise EOFError(f"the server closed the WebSocket: {e}") from e
        if isinstance(data, str):
            raise ProtocolError("a text message; dotrpc sends binary ones")
        try:
            return msgpack.unpackb(data, raw=False, strict_map_key=False)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as e:
            raise ProtocolError(f"not one msgpack value: {e}") from e

    async def close(self) -> None:
        await self._socket.close()


async def open_link(url: str) -> Link:
    """Connects to `url`: ``tcp://host:port`` (or ``host:port``),
    ``unix:/path``, ``ws://host:port/path`` (``wss://``), or
    ``nats://host:port/prefix``."""
    scheme, _, rest = url.partition("://") if "://" in url else ("", "", url)
    if url.startswith("unix:") and not scheme:
        scheme, rest = "unix", url[len("unix:") :]
    if scheme in ("", "tcp"):
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{url!r} is not an address: write tcp://host:port")
        reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
        return StreamLink(reader, writer)
    if scheme == "unix":
        path = rest if rest.startswith("/") else "/" + rest
        reader, writer = await asyncio.open_unix_connection(path)
        return StreamLink(reader, writer)
    if scheme in ("ws", "wss"):
        try:
            from websockets.asyncio.client import connect
        except ImportError as e:
            raise ImportError("a ws:// address needs the websockets package: pip install dotrpc[websocket]") from e
        socket = await connect(url, max_size=MAX_MESSAGE, compression=None)
        return WebSocketLink(socket)
    if scheme == "nats":
        from ._nats import NatsLink

        parts = urlsplit(url)
        prefix = parts.path.strip("/")
        if not prefix:
            raise ValueError(f"{url!r} names no subject prefix: write nats://host:port/prefix")
        servers = [f"nats://{server}" for server in parts.netloc.split(",")]
        return await NatsLink.connect(servers, prefix)
    raise ValueError(f"{url!r}: the scheme {scheme!r} is not one of tcp, unix, ws, wss, nats")
