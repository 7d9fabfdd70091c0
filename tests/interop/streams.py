"""Streams spoken with nothing but the `msgpack` package, from the README's
"Streams on the wire": a Python consumer of the demo server's `count`
stream that grants credit as it goes, one that cancels a stream midway, and
a producer of the `sum` call's input.

    streams.py HOST PORT

Exit status 0 means every check passed; failures are printed to stderr.
"""

import socket
import sys

from peer import NOTIFICATION, REQUEST, RESPONSE, Connection, check, failures


def main(host, port):
    conn = Connection(socket.create_connection((host, port)))

    # count(5, 0), granting 2 items in the request and more as they come.
    def take(stream, n):
        items = []
        for _ in range(n):
            message = conn.receive()
            check("an item", message[:2], [NOTIFICATION, "rpc.item"])
            check("the item's stream", message[2][0], stream)
            items.append(message[2][1])
        return items

    conn.send([REQUEST, 1, "count", [5, 0], {"credit": 2}])
    items = take(1, 2)
    conn.send([NOTIFICATION, "rpc.credit", [1, 2]])
    items += take(1, 2)
    conn.send([NOTIFICATION, "rpc.credit", [1, 1]])
    items += take(1, 1)
    check("items", items, [0, 1, 2, 3, 4])
    check("the end", conn.receive(), [RESPONSE, 1, None, None])

    # count(1000, 1): take three, then cancel; nothing more comes for it,
    # not even its answer: the next message answers the next call.
    conn.send([REQUEST, 2, "count", [1000, 1], {"credit": 3}])
    check("before the cancel", take(2, 3), [0, 1, 2])
    conn.send([NOTIFICATION, "rpc.cancel", [2]])
    conn.send([NOTIFICATION, "rpc.credit", [2, 100]])
    conn.send([REQUEST, 3, "add", [40, 2]])
    check("after the cancel", conn.receive(), [RESPONSE, 3, None, 42])

    # sum(stream): wait for room, send within it, end the input.
    conn.send([REQUEST, 4, "sum", []])
    sent, room, total = 0, 0, 0
    values = list(range(1, 101))
    while sent < len(values):
        if room == 0:
            message = conn.receive()
            check("a grant", message[:2], [NOTIFICATION, "rpc.input_credit"])
            check("the grant's stream", message[2][0], 4)
            room += message[2][1]
            continue
        conn.send([NOTIFICATION, "rpc.input", [4, values[sent]]])
        total += values[sent]
        sent += 1
        room -= 1
    conn.send([NOTIFICATION, "rpc.input_end", [4]])
    while True:
        message = conn.receive()
        if message[0] == RESPONSE:
            break
        check("only grants before the answer", message[1], "rpc.input_credit")
    check("the sum", message, [RESPONSE, 4, None, total])
    conn.sock.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
    for failure in failures:
        print(failure, file=sys.stderr)
    sys.exit(1 if failures else 0)
