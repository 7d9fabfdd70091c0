"""The dotrpc conformance suite's core: connections to the server under
test, the case registry, and the runner (`run.py` is the command).

The server under test serves the conformance API (PROTOCOL.md, section
"The conformance API"): the demo server of the repository does. One line is
printed per case, `ok`, `FAIL` or `skip`, with the section of PROTOCOL.md it
checks, and `conformance: N passed, M failed` last; the exit status is 1 if
any case failed.

Each case runs on a connection of its own (a case may close one on purpose)
and is bounded in time; a case that hangs fails by its bound.
"""

import asyncio
import sys
import time
import traceback
from urllib.parse import urlparse

import msgpack

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2

# How long a case may take, and how long "nothing comes" is watched for.
CASE_LIMIT = 10.0
QUIET = 0.3


class Failed(Exception):
    """A check of a case did not hold."""


def check(what, got, expected):
    """Fails the case unless `got == expected`."""
    if got != expected:
        raise Failed(f"{what}: expected {expected!r}, got {got!r}")


def require(what, condition):
    """Fails the case unless `condition` holds."""
    if not condition:
        raise Failed(what)


def pack(value):
    return msgpack.packb(value, use_bin_type=True)


class Closed(Exception):
    """The connection ended."""


class Connection:
    """One connection to the server under test, as messages or as bytes."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.pending = []

    async def send(self, message):
        await self.send_bytes(pack(message))

    async def send_bytes(self, data):
        await self.writer(data)

    async def _fill(self, timeout):
        chunk = await asyncio.wait_for(self.reader(), timeout)
        if not chunk:
            raise Closed()
        self.unpacker.feed(chunk)
        for message in self.unpacker:
            self.pending.append(message)

    async def receive(self, timeout=5.0, hello=False):
        """The next message; the server's `rpc.hello` is passed over unless
        `hello` asks for it."""
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                message = self.pending.pop(0)
                if not hello and is_notification(message, "rpc.hello"):
                    continue
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"nothing came within {timeout} s")
            try:
                await self._fill(left)
            except asyncio.TimeoutError:
                raise Failed(f"nothing came within {timeout} s") from None

    async def nothing(self, within=QUIET):
        """Checks that no message comes within `within` seconds."""
        try:
            message = await self.receive(within)
        except Failed:
            return
        raise Failed(f"expected nothing, got {message!r}")

    async def closed(self, within=5.0):
        """Checks that the server closes the connection within `within`
        seconds (messages before the end are passed over)."""
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"the connection was not closed within {within} s")
            try:
                await self._fill(left)
            except Closed:
                return
            except (ConnectionError, OSError):
                return
            except asyncio.TimeoutError:
                raise Failed(f"the connection was not closed within {within} s") from None
            self.pending.clear()

    async def call(self, msgid, method, params, *extra, timeout=5.0):
        """Sends a request; returns its response, taking messages of other
        kinds that come first into `self.others`."""
        await self.send([REQUEST, msgid, method, params, *extra])
        return await self.response(msgid, timeout)

    async def response(self, msgid, timeout=5.0):
        self.others = []
        deadline = time.monotonic() + timeout
        while True:
            message = await self.receive(max(deadline - time.monotonic(), 0.01))
            if message[0] == RESPONSE and message[1] == msgid:
                return message
            self.others.append(message)

    async def alive(self):
        """Checks the connection still answers a call."""
        answer = await self.call(999_999, "add", [20, 22])
        check("a call after it", answer, [RESPONSE, 999_999, None, 42])

    async def close(self):
        await self.closer()


def is_notification(message, method=None):
    return (
        isinstance(message, list)
        and len(message) == 3
        and message[0] == NOTIFICATION
        and (method is None or message[1] == method)
    )


def error_code(response):
    """The code of a response's error object, or None."""
    error = response[2]
    if isinstance(error, dict):
        return error.get("code")
    return None


async def tcp_connection(host, port):
    reader, writer = await asyncio.open_connection(host, port)

    async def read():
        return await reader.read(65536)

    async def write(data):
        writer.write(data)
        await writer.drain()

    async def close():
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    connection = Connection(read, write)
    connection.closer = close
    connection.end_sending = writer.write_eof
    connection.raw_bytes = True
    return connection


async def ws_connection(url):
    import websockets

    socket = await websockets.connect(url, max_size=None, open_timeout=5)

    async def read():
        try:
            message = await socket.recv()
        except websockets.ConnectionClosed:
            return b""
        if isinstance(message, str):
            raise Failed("the server sent a text message")
        return message

    async def write(data):
        await socket.send(data)

    async def close():
        await socket.close()

    connection = Connection(read, write)
    connection.closer = close
    connection.raw_bytes = False
    connection.socket = socket
    return connection


class Target:
    """What the suite runs against, from its address."""

    def __init__(self, address):
        self.address = address
        url = urlparse(address)
        self.scheme = url.scheme
        if url.scheme == "tcp":
            self.host, self.port = url.hostname, url.port
        elif url.scheme in ("ws", "wss"):
            self.url = address
        elif url.scheme == "nats":
            self.servers = f"nats://{url.netloc}"
            self.prefix = url.path.strip("/")
        else:
            raise SystemExit(f"conformance: unknown address {address}; tcp://, ws:// or nats://")

    @property
    def kind(self):
        return {"tcp": "stream", "ws": "message", "wss": "message", "nats": "nats"}[self.scheme]

    async def connect(self):
        if self.scheme == "tcp":
            return await tcp_connection(self.host, self.port)
        return await ws_connection(self.url)


CASES = []


def case(section, name, transports=("stream", "message")):
    """Registers a case checking `section` of PROTOCOL.md on the listed
    kinds of transport: `stream` (bytes: TCP), `message` (WebSocket),
    `nats`."""

    def register(function):
        CASES.append((section, name, transports, function))
        return function

    return register


async def run_case(target, function):
    if target.kind == "nats":
        return await function(target)
    connection = await target.connect()
    connection.target = target
    try:
        await function(connection)
    finally:
        try:
            await connection.close()
        except Exception:
            pass


async def checked(section, name, attempt, limit):
    """Awaits `attempt` within `limit` seconds and prints how it went, one
    line; whether it passed."""
    try:
        await asyncio.wait_for(attempt, limit)
        print(f"ok   {section:<8} {name}", flush=True)
        return True
    except Failed as failure:
        detail = str(failure)
    except asyncio.TimeoutError:
        detail = f"took longer than {limit} s"
    except Exception as error:
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
    print(f"FAIL {section:<8} {name}: {detail}", flush=True)
    return False


async def main(address):
    target = Target(address)
    outcomes = [
        await checked(section, name, run_case(target, function), CASE_LIMIT)
        for section, name, transports, function in CASES
        if target.kind in transports
    ]
    print(f"conformance: {outcomes.count(True)} passed, {outcomes.count(False)} failed")
    return all(outcomes)
