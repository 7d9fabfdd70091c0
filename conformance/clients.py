"""The client side of the conformance suite: the runner plays a scripted
server and checks what a client under test does (PROTOCOL.md §15).

    python clients.py DRIVER [ARG...]

DRIVER is a command that, given `SCENARIO tcp://127.0.0.1:PORT` after its
own arguments, connects the client under test to that address, does what
the scenario asks (below), and prints one line per outcome: a result (a
number), `end` for a stream's end, `stopped` when it stopped one, or
`error:KIND` for an error, where KIND is `Timeout` or `Disconnected` when
the table says so and the client's own name for it otherwise. The runner
checks what the client sent and the lines it printed: one line per
scenario, then `conformance (client): N passed, M failed`.

| scenario | the driver | the scripted server checks |
|---|---|---|
| call | `add(1, 2)`, prints it | a well-formed request; answers 3 |
| timeout_cancel | `sleep(5000)` with a 300 ms timeout, prints the error | `rpc.cancel [id]` soon after the timeout (the server's hello lists `cancel`) |
| late_reply | as above, then `add(2, 2)`, prints both | the late answer to the first call is dropped; the second call works |
| malformed_reply | `add(1, 2)`, prints the error; then `add(3, 4)`, prints its error | on a response of two items the client fails the call and closes the connection: the second call fails `Disconnected`, unsent |
| server_junk | `add(1, 2)`, prints it | before answering, the server sends a response to no call, protocol notifications of the wrong shape, an item of no stream, and calls the client: one with params that are not an array (answered `InvalidParams`), one nothing serves (`UnknownApi`); the connection goes on |
| stream_credit | reads the stream `count(20, 0)` with a window of 4, slowly; prints each item, how many, and `end` | a first window of 4; room granted again as items are taken, never more than 4 ahead |
| upload_credit | uploads 1..=20 to `sum`, prints the total | no item beyond the room granted (4 at a time); the end of the input |
| closed_mid_stream | reads `count(10, 0)` (window 8), prints its items and the error | the server closes after two items: the stream ends with `Disconnected` |
| stream_stop | reads two items of `count(100, 0)` (window 4), stops, prints `stopped`; then `add(1, 2)`, prints it | `rpc.cancel [id]` for the stream, before the next call |
| stream_overrun | opens `count(10, 0)` with a window of 4, takes one item, waits 1.5 s, reads the rest; then `add(1, 2)`, prints it | the server sends the window, notes the credit the client grants for the item it took, then sends two items past all it was granted: the client ends the stream with an error after the items it had room for, and cancels it before the next call |
| resend_idempotent | with reconnection on, `sleep(300)` and `add(5, 5)` marked idempotent at once; prints both | the connection drops with both sent; on the next connection `add` alone is sent again, and answered 10 |
| no_resend | with reconnection on, `sleep(300)`, prints the error; then `add(1, 1)` once connected again | the connection drops with the call sent; on the next connection the call is not sent again |
"""

import asyncio
import contextlib
import os
import signal
import sys
import time

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from suite import NOTIFICATION, REQUEST, RESPONSE, Failed, checked, require  # noqa: E402

# How long one scenario may take, the driver's run included.
SCENARIO_LIMIT = 20.0
# Matches any error line (`error:KIND`): where what the client calls the
# error is its own business.
ANY_ERROR = "error:*"
ANY_METHOD = None


class Peer:
    """The scripted server's end of one connection."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.pending = []
        self.hello = None

    async def send(self, message):
        self.writer.write(msgpack.packb(message, use_bin_type=True))
        await self.writer.drain()

    async def receive(self, timeout=5.0):
        """The next message but a hello, which is answered (with cancel and
        deadline listed) and remembered."""
        deadline = time.monotonic() + timeout
        while True:
            while self.pending:
                message = self.pending.pop(0)
                if message[:2] == [NOTIFICATION, "rpc.hello"]:
                    self.hello = message
                    await self.send([NOTIFICATION, "rpc.hello", [{"dotrpc": 1, "features": ["cancel", "deadline"]}]])
                    continue
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failed(f"the client sent nothing within {timeout} s")
            try:
                chunk = await asyncio.wait_for(self.reader.read(65536), left)
            except asyncio.TimeoutError:
                raise Failed(f"the client sent nothing within {timeout} s") from None
            if not chunk:
                raise Failed("the client closed the connection")
            self.unpacker.feed(chunk)
            self.pending.extend(self.unpacker)

    async def request(self, method, timeout=5.0):
        """The next message, a request of `method` (`ANY_METHOD`: any)."""
        message = await self.receive(timeout)
        require(
            f"a request of {method}: {message}",
            message[0] == REQUEST and method in (ANY_METHOD, message[2]),
        )
        require(f"params are an array: {message}", isinstance(message[3], list))
        return message

    async def quiet(self, within):
        """What the client sends within `within` seconds (hellos answered)."""
        got = []
        try:
            while True:
                got.append(await self.receive(within))
        except Failed:
            return got

    def close(self):
        self.writer.close()


class Server:
    """Accepts the client's connections, one at a time."""

    def __init__(self):
        self.connections = asyncio.Queue()

    async def start(self):
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader, writer):
        await self.connections.put(Peer(reader, writer))

    async def next(self, timeout=5.0):
        try:
            return await asyncio.wait_for(self.connections.get(), timeout)
        except asyncio.TimeoutError:
            raise Failed(f"the client did not connect within {timeout} s") from None

    def stop(self):
        self.server.close()


async def call(server):
    peer = await server.next()
    request = await peer.request("add")
    require(f"the params: {request}", request[3] == [1, 2])
    await peer.send([RESPONSE, request[1], None, 3])
    return ["3"]


async def timeout_cancel(server):
    peer = await server.next()
    request = await peer.request("sleep")
    sent = time.monotonic()
    message = await peer.receive(3.0)
    waited = time.monotonic() - sent
    require(f"a cancel of the call, not {message}", message == [NOTIFICATION, "rpc.cancel", [request[1]]])
    require(f"the cancel soon after the 300 ms timeout, not after {waited:.2f} s", waited < 2.0)
    require("the client said hello (the server's lists cancel)", peer.hello is not None)
    return ["error:Timeout"]


async def late_reply(server):
    peer = await server.next()
    first = await peer.request("sleep")
    await asyncio.sleep(0.6)
    await peer.send([RESPONSE, first[1], None, 1000])
    second = None
    while second is None:
        message = await peer.receive()
        if message[0] == REQUEST:
            second = message
    require(f"the second call: {second}", second[2] == "add" and second[3] == [2, 2])
    await peer.send([RESPONSE, second[1], None, 4])
    return ["error:Timeout", "4"]


async def malformed_reply(server):
    peer = await server.next()
    request = await peer.request("add")
    await peer.send([RESPONSE, request[1]])
    later = await peer.quiet(3.0)
    require(f"no call on a connection the client closed: {later}", all(m[0] != REQUEST for m in later))
    return [ANY_ERROR, "error:Disconnected"]


async def server_junk(server):
    peer = await server.next()
    request = await peer.request("add")
    for junk in [
        [RESPONSE, 999_999, None, 1],
        [NOTIFICATION, "rpc.cancel", "x"],
        [NOTIFICATION, "rpc.input_credit", ["x", 1]],
        [NOTIFICATION, "rpc.item", [12_345, 1]],
        [NOTIFICATION, "no.such.event", "not an array"],
        [REQUEST, 77, "anything", "not an array"],
        [REQUEST, 78, "no.such.method", []],
    ]:
        await peer.send(junk)
    answers = {}
    while len(answers) < 2:
        message = await peer.receive()
        if message[0] == RESPONSE:
            answers[message[1]] = message
    for msgid, code in [(77, "InvalidParams"), (78, "UnknownApi")]:
        answer = answers.get(msgid)
        require(
            f"the call {msgid} answered {code}: {answer}",
            answer is not None and len(answer) == 4 and isinstance(answer[2], dict) and answer[2].get("code") == code,
        )
    await peer.send([RESPONSE, request[1], None, 3])
    return ["3"]


async def stream_credit(server):
    peer = await server.next()
    request = await peer.request("count")
    metadata = request[4] if len(request) > 4 else {}
    require(f"a first window of 4: {request}", isinstance(metadata, dict) and metadata.get("credit") == 4)
    granted, sent = 4, 0
    while sent < 20:
        while sent < min(granted, 20):
            await peer.send([NOTIFICATION, "rpc.item", [request[1], sent]])
            sent += 1
        if sent == 20:
            break
        message = await peer.receive()
        require(f"credit for the stream: {message}", message[:2] == [NOTIFICATION, "rpc.credit"] and message[2][0] == request[1])
        granted += message[2][1]
        require(f"no more room than the window of 4: {granted - sent} ahead", granted - sent <= 4)
    await peer.send([RESPONSE, request[1], None, None])
    return [str(i) for i in range(20)] + ["20", "end"]


async def upload_credit(server):
    peer = await server.next()
    request = await peer.request("sum")
    msgid, granted, received, total = request[1], 0, 0, 0
    while True:
        if received == granted:
            await peer.send([NOTIFICATION, "rpc.input_credit", [msgid, 4]])
            granted += 4
        message = await peer.receive()
        if message[:2] == [NOTIFICATION, "rpc.input_end"]:
            break
        require(f"an input item: {message}", message[:2] == [NOTIFICATION, "rpc.input"])
        received += 1
        require(f"no item beyond the room granted ({granted})", received <= granted)
        total += message[2][1]
    require(f"every item arrived: {received} of 20", received == 20)
    await peer.send([RESPONSE, msgid, None, total])
    return [str(total)]


async def closed_mid_stream(server):
    peer = await server.next()
    request = await peer.request("count")
    for i in range(2):
        await peer.send([NOTIFICATION, "rpc.item", [request[1], i]])
    await asyncio.sleep(0.1)
    peer.close()
    return ["0", "1", "error:Disconnected"]


async def cancelled_before_add(peer, msgid):
    """Reads up to the driver's next call, `add`, and answers it; a cancel of
    stream `msgid`, once, must come before it. (The driver calls again
    rather than exiting: a client that closes with data unread resets the
    connection, and a reset may take its last messages with it.)"""
    before = []
    while True:
        message = await peer.receive()
        if message[0] == REQUEST and message[2] == "add":
            break
        before.append(message)
    cancels = [m for m in before if m[:2] == [NOTIFICATION, "rpc.cancel"]]
    require(f"a cancel of the stream, before the next call: {before}", [c[2] for c in cancels] == [[msgid]])
    await peer.send([RESPONSE, message[1], None, 3])


async def stream_stop(server):
    peer = await server.next()
    request = await peer.request("count")
    for i in range(4):
        await peer.send([NOTIFICATION, "rpc.item", [request[1], i]])
    await cancelled_before_add(peer, request[1])
    return ["0", "1", "stopped", "3"]


async def stream_overrun(server):
    peer = await server.next()
    request = await peer.request("count")
    msgid, granted, sent = request[1], 4, 0
    for _ in range(granted):
        await peer.send([NOTIFICATION, "rpc.item", [msgid, sent]])
        sent += 1
    # The driver takes one item, then pauses: whatever credit it grants for
    # that item arrives now, and the overrun goes past all of it by two.
    for message in await peer.quiet(0.5):
        if message[:2] == [NOTIFICATION, "rpc.credit"] and message[2][0] == msgid:
            granted += message[2][1]
    require(f"no more room than the window of 4: {granted - 1} ahead", granted - 1 <= 4)
    while sent < granted + 2:
        await peer.send([NOTIFICATION, "rpc.item", [msgid, sent]])
        sent += 1
    await cancelled_before_add(peer, msgid)
    return [str(i) for i in range(granted)] + [ANY_ERROR, "3"]


async def no_resend(server):
    first = await server.next()
    await first.request("sleep")
    first.close()
    second = await server.next(10)
    calls = []
    while True:
        message = await second.receive(10)
        if message[0] == REQUEST:
            calls.append(message)
            if message[2] == "add":
                break
    require(f"the call that may have run was not sent again: {calls}", all(c[2] != "sleep" for c in calls))
    await second.send([RESPONSE, calls[-1][1], None, 2])
    return ["error:Disconnected", "2"]


async def resend_idempotent(server):
    first = await server.next()
    sent = {}
    while len(sent) < 2:
        request = await first.request(ANY_METHOD)
        sent[request[2]] = request
    require(f"the calls: {sorted(sent)}", sorted(sent) == ["add", "sleep"])
    first.close()
    second = await server.next(10)
    again = await second.request("add", timeout=10)
    require(f"the same params: {again}", again[3] == [5, 5])
    await second.send([RESPONSE, again[1], None, 10])
    later = await second.quiet(0.5)
    require(f"nothing else sent again: {later}", all(m[0] != REQUEST for m in later))
    return ["error:Disconnected", "10"]


SCENARIOS = [
    ("§15", "call", call),
    ("§15", "timeout_cancel", timeout_cancel),
    ("§15", "late_reply", late_reply),
    ("§15", "malformed_reply", malformed_reply),
    ("§3", "server_junk", server_junk),
    ("§15", "stream_credit", stream_credit),
    ("§15", "upload_credit", upload_credit),
    ("§15", "closed_mid_stream", closed_mid_stream),
    ("§15", "stream_stop", stream_stop),
    ("§3", "stream_overrun", stream_overrun),
    ("§15", "resend_idempotent", resend_idempotent),
    ("§15", "no_resend", no_resend),
]


def matches(expected, line):
    return line == expected or (expected == ANY_ERROR and line.startswith("error:"))


async def run(driver, name, scenario):
    server = Server()
    await server.start()
    process = await asyncio.create_subprocess_exec(
        *driver, name, f"tcp://127.0.0.1:{server.port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        expected = await scenario(server)
        out, err = await process.communicate()
        lines = out.decode().split()
        require(
            f"the driver printed {lines}, expected {expected} ({err.decode().strip()})",
            len(lines) == len(expected) and all(matches(e, line) for e, line in zip(expected, lines)),
        )
        require(f"the driver exited with {process.returncode}", process.returncode == 0)
    finally:
        # The driver's whole process group: a child it left behind would hold
        # its pipes open, and the wait would last as long as the child.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
        server.stop()


async def main(driver):
    outcomes = [
        await checked(section, name, run(driver, name, scenario), SCENARIO_LIMIT)
        for section, name, scenario in SCENARIOS
    ]
    print(f"conformance (client): {outcomes.count(True)} passed, {outcomes.count(False)} failed")
    return all(outcomes)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.exit(0 if asyncio.run(main(sys.argv[1:])) else 1)
