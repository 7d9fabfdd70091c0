"""A msgpack-rpc peer written with nothing but the `msgpack` package, to prove
that dotrpc speaks the wire exactly.

    peer.py client HOST PORT   call a dotrpc demo server and check every answer
    peer.py server             serve one dotrpc client; prints "LISTENING PORT"

Exit status 0 means every check passed; failures are printed to stderr.
"""

import socket
import sys
import time

import msgpack

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2


class Connection:
    """One msgpack-rpc connection: framing by msgpack's streaming unpacker."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.settimeout(10)
        self.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.queued = []

    def send(self, message):
        self.sock.sendall(msgpack.packb(message, use_bin_type=True))

    def send_raw(self, data):
        self.sock.sendall(data)

    def receive(self):
        """The next message, or None at EOF."""
        while not self.queued:
            for message in self.unpacker:
                self.queued.append(message)
            if self.queued:
                break
            data = self.sock.recv(65536)
            if not data:
                return None
            self.unpacker.feed(data)
        return self.queued.pop(0)


failures = []


def check(name, got, expected):
    if got != expected:
        failures.append(f"{name}: expected {expected!r}, got {got!r}")


def run_client(host, port):
    conn = Connection(socket.create_connection((host, port)))

    def call(msgid, method, params):
        conn.send([REQUEST, msgid, method, params])
        message = conn.receive()
        check(f"{method} reply shape", (message[0], message[1]), (RESPONSE, msgid))
        return message[2], message[3]

    check("add", call(1, "add", [40, 2]), (None, 42))
    check("nested path", call(2, "math.stats.mean", [[1.0, 2.0, 6.0]]), (None, 3.0))
    error, result = call(3, "math.div", [1.0, 0.0])
    check("typed error", (error.get("code"), error.get("message"), result), ("Application", "division by zero", None))
    error, _ = call(4, "no.such.method", [])
    check("unknown method", error.get("code"), "UnknownApi")
    error, _ = call(5, "add", [1])
    check("wrong arity", (error.get("code"), error.get("message")), ("InvalidParams", "add expects 2 params, got 1"))
    error, _ = call(6, "add", [1, "two"])
    check("wrong type", error.get("code"), "InvalidParams")

    nested = {"name": "x", "bytes": b"\x00\xff", "list": [1, -2, 3.5, None, True], "map": {1: "one"}}
    check("echo nested map and binary", call(7, "echo", [nested]), (None, nested))
    check("echo u64 max", call(8, "echo", [2**64 - 1]), (None, 2**64 - 1))
    check("echo i64 min", call(9, "echo", [-(2**63)]), (None, -(2**63)))
    ext = msgpack.ExtType(5, b"\x01\x02")
    check("echo ext", call(10, "echo", [ext]), (None, ext))
    # An old-spec peer sends raw bytes as str; echo must give the same bytes back.
    conn.send_raw(b"\x94\x00\x0b\xa4echo\x91\xa2\xff\xfe")
    conn.unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
    message = conn.receive()
    check("echo non-UTF-8 str", message, [RESPONSE, 11, None, b"\xff\xfe"])
    conn.unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)

    # Pipelined calls are answered as they finish, not in order.
    conn.send([REQUEST, 20, "sleep", [150]])
    conn.send([REQUEST, 21, "sleep", [0]])
    first, second = conn.receive(), conn.receive()
    check("out-of-order replies", (first[1], second[1]), (21, 20))

    # Notifications both ways. The count is server-wide, so compare before and after.
    _, before = call(29, "stats.notifications", [])
    for line in ["a", "b", "c"]:
        conn.send([NOTIFICATION, "log", [line]])
    # Handlers run concurrently, so the count may lag the notifications by a
    # moment: ask again, a bounded number of times.
    for attempt in range(100):
        _, count = call(30 + attempt, "stats.notifications", [])
        if count >= before + 3:
            break
        time.sleep(0.01)
    check("notifications counted", count, before + 3)
    conn.send([NOTIFICATION, "events.subscribe", [3]])
    ticks = [conn.receive() for _ in range(3)]
    check("events pushed by the server", ticks, [[NOTIFICATION, "events.tick", [i]] for i in range(3)])
    conn.sock.close()


def run_server():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)
    print(f"LISTENING {listener.getsockname()[1]}", flush=True)
    sock, _ = listener.accept()
    conn = Connection(sock)
    next_msgid = 1000
    while True:
        message = conn.receive()
        if message is None:
            break
        if message[0] == NOTIFICATION:
            _, method, params = message
            if method == "greet":
                conn.send([NOTIFICATION, "greeting", [f"hello, {params[0]}"]])
            continue
        if message[0] != REQUEST:
            failures.append(f"unexpected message {message!r}")
            continue
        _, msgid, method, params = message
        if method == "add":
            conn.send([RESPONSE, msgid, None, params[0] + params[1]])
        elif method == "math.div":
            if params[1] == 0:
                conn.send([RESPONSE, msgid, "division by zero", None])
            else:
                conn.send([RESPONSE, msgid, None, params[0] / params[1]])
        elif method == "echo":
            conn.send([RESPONSE, msgid, None, params[0]])
        elif method == "ask_client":
            # Call the dotrpc client back before answering its call.
            next_msgid += 1
            conn.send([REQUEST, next_msgid, "client.version", []])
            reply = conn.receive()
            check("callback reply", (reply[0], reply[1], reply[2]), (RESPONSE, next_msgid, None))
            conn.send([RESPONSE, msgid, None, f"client says {reply[3]}"])
        else:
            conn.send([RESPONSE, msgid, ["NoMethodError", f"unknown method {method}"], None])
    conn.sock.close()


if __name__ == "__main__":
    if sys.argv[1] == "client":
        run_client(sys.argv[2], int(sys.argv[3]))
    else:
        run_server()
    for failure in failures:
        print(failure, file=sys.stderr)
    sys.exit(1 if failures else 0)
