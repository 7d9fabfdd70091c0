"""A foreign client of a dotrpc service on NATS: only the NATS client library
nats-py and the plain msgpack package, using the payloads the README
documents. Prints one line per check and exits non-zero on the first that
fails.

    python nats_client.py nats://127.0.0.1:PORT PREFIX
"""
import asyncio
import json
import sys

import msgpack
import nats
from nats.errors import NoRespondersError


def check(ok, what):
    if not ok:
        print(f"FAIL {what}", flush=True)
        sys.exit(1)
    print(f"ok {what}", flush=True)


async def main(url, prefix):
    nc = await nats.connect(url)

    async def call(path, *params, headers=None):
        return await nc.request(
            f"{prefix}.{path}", msgpack.packb(list(params)), timeout=5, headers=headers
        )

    reply = await call("add", 1, 2)
    check(msgpack.unpackb(reply.data) == 3 and not reply.headers, "add(1, 2) == 3")

    reply = await call("math.stats.mean", [1.0, 2.0, 6.0])
    check(msgpack.unpackb(reply.data) == 3.0, "math.stats.mean([1, 2, 6]) == 3.0")

    reply = await call("echo", {"k": [1, b"\x00\xff", None]})
    check(msgpack.unpackb(reply.data) == {"k": [1, b"\x00\xff", None]}, "echo is byte-exact")

    reply = await call("math.div", 1.0, 0.0)
    error = msgpack.unpackb(reply.data)
    check(
        reply.headers.get("Nats-Service-Error-Code") == "422"
        and reply.headers.get("Nats-Service-Error") == "division by zero"
        and error["code"] == "Application"
        and error["message"] == "division by zero",
        "math.div(1, 0) is an error reply: headers and the error map",
    )

    reply = await call("no.such.method")
    error = msgpack.unpackb(reply.data)
    check(
        reply.headers.get("Nats-Service-Error-Code") == "404" and error["code"] == "UnknownApi",
        "an unknown path is UnknownApi, 404",
    )

    reply = await call("add", "x")
    error = msgpack.unpackb(reply.data)
    check(
        reply.headers.get("Nats-Service-Error-Code") == "400" and error["code"] == "InvalidParams",
        "wrong params are InvalidParams, 400",
    )

    # The deadline header: a call that sleeps past it is answered Timeout.
    reply = await call("sleep", 2000, headers={"Dotrpc-Deadline-Ms": "100"})
    error = msgpack.unpackb(reply.data)
    check(error["code"] == "Timeout", "the Dotrpc-Deadline-Ms header is the handler's deadline")

    # A notification: no reply subject; counted by the service.
    await nc.publish(f"{prefix}.log", msgpack.packb(["from python"]))
    await nc.flush()
    counted = 0
    for _ in range(50):
        counted = msgpack.unpackb((await call("stats.notifications")).data)
        if counted >= 1:
            break
        await asyncio.sleep(0.05)
    check(counted >= 1, "a notification reaches an instance")

    try:
        await nc.request(f"{prefix}-nobody.add", msgpack.packb([1, 2]), timeout=5)
        check(False, "no responders")
    except NoRespondersError:
        check(True, "a subject nobody serves has no responders")

    await streams(nc, prefix)

    info = json.loads((await nc.request(f"$SRV.INFO.{prefix}", b"", timeout=5)).data)
    described = json.loads(info["metadata"]["dotrpc.describe"])
    check(
        info["type"] == "io.nats.micro.v1.info_response"
        and described["version"] == 2
        and any(m["path"] == "math.stats.mean" for m in described["methods"])
        and "Order" in described["types"],
        "$SRV.INFO carries the description, with its types",
    )

    await nc.close()


async def streams(nc, prefix):
    """Streams, as the README's "Streams over NATS" says: the request
    carries the first window in `Dotrpc-Credit`; the instance's messages
    come to the reply subject, each with its kind in `Dotrpc-Stream` and
    its own subject for the call as the NATS reply subject, where credit
    (a running total) and the input go."""
    inbox = nc.new_inbox()
    messages = asyncio.Queue()

    async def received(msg):
        await messages.put(msg)

    sub = await nc.subscribe(f"{inbox}.*", cb=received)

    async def next_message():
        return await asyncio.wait_for(messages.get(), 5)

    def kind(msg):
        return (msg.headers or {}).get("Dotrpc-Stream")

    # count(10, 0) with a window of 3: credit granted as items are taken.
    reply = f"{inbox}.1"
    await nc.publish(
        f"{prefix}.count", msgpack.packb([10, 0]), reply=reply, headers={"Dotrpc-Credit": "3"}
    )
    items, granted, seqs = [], 3, []
    while True:
        msg = await next_message()
        if kind(msg) is None:
            end = msg
            break
        if kind(msg) == "item":
            seq, item = msgpack.unpackb(msg.data)
            seqs.append(seq)
            items.append(item)
            granted += 1
            await nc.publish(
                msg.reply, msgpack.packb(granted), reply=reply, headers={"Dotrpc-Stream": "credit"}
            )
    check(
        items == list(range(10)) and seqs == list(range(1, 11)) and msgpack.unpackb(end.data) is None,
        "a stream over NATS: numbered items against credit totals, then the end",
    )

    # sum of an input stream: wait for room, send numbered items, end it.
    reply = f"{inbox}.2"
    await nc.publish(f"{prefix}.sum", b"", reply=reply, headers={"Dotrpc-Credit": "0"})
    sent, room, instance = 0, 0, None
    while sent < 20:
        msg = await next_message()
        if kind(msg) == "input_credit":
            instance = msg.reply
            room = max(room, msgpack.unpackb(msg.data))
        elif kind(msg) == "ping":  # [input credit granted, items sent]
            instance = msg.reply
            room = max(room, msgpack.unpackb(msg.data)[0])
        while sent < min(room, 20):
            sent += 1
            await nc.publish(
                instance, msgpack.packb([sent, sent]), reply=reply, headers={"Dotrpc-Stream": "input"}
            )
    await nc.publish(
        instance, msgpack.packb(sent), reply=reply, headers={"Dotrpc-Stream": "input_end"}
    )
    while True:
        msg = await next_message()
        if kind(msg) is None:
            break
    check(msgpack.unpackb(msg.data) == 210, "an input stream over NATS: sum(1..=20) == 210")
    await sub.unsubscribe()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
