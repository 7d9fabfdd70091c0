"""PROTOCOL.md §13 (the NATS mapping), against a service on NATS:
`nats://host:port/prefix`."""

import asyncio
import json

import msgpack

from suite import case, check, require

try:
    import nats
    from nats.errors import NoRespondersError
except ImportError:  # the cases say so when run
    nats = None


def unpack(data):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


class Service:
    """A NATS connection to the target, and its subjects."""

    def __init__(self, target, client):
        self.target, self.nc = target, client

    def subject(self, path):
        return f"{self.target.prefix}.{path}"

    async def request(self, path, params=None, headers=None, timeout=5.0):
        body = b"" if params is None else msgpack.packb(params, use_bin_type=True)
        return await self.nc.request(self.subject(path), body, timeout=timeout, headers=headers)


def nats_case(section, name):
    def register(function):
        async def run(target):
            if nats is None:
                raise AssertionError("nats-py is not installed")
            client = await nats.connect(target.servers)
            try:
                await function(Service(target, client))
            finally:
                await client.close()

        return case(section, name, ("nats",))(run)

    return register


def error_of(reply):
    headers = reply.headers or {}
    return headers.get("Nats-Service-Error-Code"), unpack(reply.data) if reply.data else None


@nats_case("§13.1", "a request on PREFIX.PATH is answered with the msgpack result")
async def _(s):
    check("add(1, 2)", unpack((await s.request("add", [1, 2])).data), 3)


@nats_case("§13.1", "a nested path is a dotted subject")
async def _(s):
    check("mean", unpack((await s.request("math.stats.mean", [[1.0, 2.0, 6.0]])).data), 3.0)


@nats_case("§13.1", "an empty body is no params")
async def _(s):
    reply = await s.request("stats.notifications")
    require(f"a count: {reply.data}", isinstance(unpack(reply.data), int))


@nats_case("§13.2", "a body that is not an array is 400 InvalidParams")
async def _(s):
    reply = await s.nc.request(s.subject("add"), msgpack.packb("nope"), timeout=5)
    code, error = error_of(reply)
    check("the status", code, "400")
    check("the code", error["code"], "InvalidParams")


@nats_case("§13.2", "an unknown path is 404 UnknownApi")
async def _(s):
    code, error = error_of(await s.request("no.such.method", []))
    check("the status", code, "404")
    check("the code", error["code"], "UnknownApi")


@nats_case("§13.2", "an application error is 422, its message in Nats-Service-Error")
async def _(s):
    reply = await s.request("math.div", [1.0, 0.0])
    code, error = error_of(reply)
    check("the status", code, "422")
    check("the header", reply.headers.get("Nats-Service-Error"), "division by zero")
    check("the body", (error["code"], error["message"]), ("Application", "division by zero"))


@nats_case("§13.2", "wrong params are 400 InvalidParams")
async def _(s):
    code, error = error_of(await s.request("add", [1]))
    check("the status and code", (code, error["code"]), ("400", "InvalidParams"))


@nats_case("§13.3", "Dotrpc-Deadline-Ms is the handler's deadline: 504 Timeout")
async def _(s):
    reply = await s.request("sleep", [2000], headers={"Dotrpc-Deadline-Ms": "100"})
    code, error = error_of(reply)
    check("the status and code", (code, error["code"]), ("504", "Timeout"))


@nats_case("§13.1", "a message without a reply subject is a notification")
async def _(s):
    before = unpack((await s.request("stats.notifications")).data)
    await s.nc.publish(s.subject("log"), msgpack.packb(["over NATS"]))
    await s.nc.flush()
    for _ in range(50):
        after = unpack((await s.request("stats.notifications")).data)
        if after > before:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the notification was not counted: {before} then {after}")


@nats_case("§13.2", "a subject nobody serves is 'no responders' at once")
async def _(s):
    try:
        await s.nc.request(f"nobody-{id(s)}.add", msgpack.packb([1, 2]), timeout=2)
    except NoRespondersError:
        return
    raise AssertionError("an answer came from nobody")


@nats_case("§13.4", "events a service pushes carry Dotrpc-Push on PREFIX.PATH")
async def _(s):
    ticks = await s.nc.subscribe(s.subject("events.tick"))
    await s.nc.flush()
    await s.nc.publish(s.subject("events.subscribe"), msgpack.packb([2]))
    got = []
    for _ in range(2):
        message = await ticks.next_msg(timeout=5)
        check("the header", (message.headers or {}).get("Dotrpc-Push"), "1")
        got.append(unpack(message.data))
    check("the ticks", got, [[0], [1]])


async def stream_call(s, path, params, credit):
    """Opens a stream call; returns its inbox subscription, reply subject."""
    inbox = s.nc.new_inbox()
    replies = await s.nc.subscribe(f"{inbox}.>")
    await s.nc.flush()
    reply = f"{inbox}.1"
    await s.nc.publish(
        s.subject(path), msgpack.packb(params), reply=reply, headers={"Dotrpc-Credit": str(credit)}
    )
    return replies, reply


def kind_of(message):
    return (message.headers or {}).get("Dotrpc-Stream")


@nats_case("§13.5", "a stream call: a ping naming the instance, numbered items, an end that counts them")
async def _(s):
    replies, _ = await stream_call(s, "count", [3, 0], 8)
    # The ping says where the instance is; it may overtake the items or
    # come after them (PROTOCOL.md §13.5).
    messages = [await replies.next_msg(timeout=5) for _ in range(5)]
    kinds = [kind_of(m) for m in messages]
    check("a ping, three items, the end", sorted(map(str, kinds)), sorted(["ping", "item", "item", "item", "None"]))
    streamed = [m for m in messages if kind_of(m) != "ping"]
    check("numbered from 1, in order", [unpack(m.data) for m in streamed[:3]], [[1, 0], [2, 1], [3, 2]])
    end = streamed[3]
    check("the end comes after the items", kind_of(end), None)
    check("it counts the items", (end.headers or {}).get("Dotrpc-Items"), "3")
    require("every stream message names the instance's subject", all(m.reply for m in messages if kind_of(m)))


@nats_case("§13.5", "credit is a running total sent to the instance's subject")
async def _(s):
    replies, reply = await stream_call(s, "count", [5, 0], 2)
    instance = None
    items = []
    while len(items) < 2:
        message = await replies.next_msg(timeout=5)
        instance = message.reply or instance
        if kind_of(message) == "item":
            items.append(unpack(message.data)[1])
    await s.nc.publish(instance, msgpack.packb(5), reply=reply, headers={"Dotrpc-Stream": "credit"})
    while len(items) < 5:
        message = await replies.next_msg(timeout=5)
        if kind_of(message) == "item":
            items.append(unpack(message.data)[1])
    check("all five", items, [0, 1, 2, 3, 4])


@nats_case("§13.5", "a cancel to the instance's subject stops the stream")
async def _(s):
    replies, reply = await stream_call(s, "count", [100000, 5], 2)
    message = await replies.next_msg(timeout=5)
    instance = message.reply
    await s.nc.publish(instance, b"", reply=reply, headers={"Dotrpc-Stream": "cancel"})
    await asyncio.sleep(0.2)
    # Whatever was on its way has come; nothing more does.
    while True:
        try:
            await replies.next_msg(timeout=0.05)
        except Exception:
            break
    try:
        late = await replies.next_msg(timeout=0.5)
    except Exception:
        return
    raise AssertionError(f"a message after the cancel: {kind_of(late)}")


@nats_case("§13.5", "an upload: room granted as totals, numbered input, an end that counts it")
async def _(s):
    replies, reply = await stream_call(s, "sum", [], 0)
    instance, room, sent, total = None, 0, 0, 0
    while sent < 20:
        if sent >= room:
            message = await replies.next_msg(timeout=5)
            instance = message.reply or instance
            if kind_of(message) == "input_credit":
                room = unpack(message.data)
            elif kind_of(message) == "ping":
                room = max(room, unpack(message.data)[0])
            continue
        sent += 1
        total += sent
        await s.nc.publish(instance, msgpack.packb([sent, sent]), reply=reply, headers={"Dotrpc-Stream": "input"})
    await s.nc.publish(instance, msgpack.packb(sent), reply=reply, headers={"Dotrpc-Stream": "input_end"})
    while True:
        message = await replies.next_msg(timeout=5)
        if kind_of(message) is None:
            check("the total", unpack(message.data), total)
            return


@nats_case("§13.6", "$SRV.PING is answered with the service's name")
async def _(s):
    reply = await s.nc.request(f"$SRV.PING.{s.target.prefix}", b"", timeout=5)
    info = json.loads(reply.data)
    check("the name", info["name"], s.target.prefix.replace(".", "-"))


@nats_case("§13.6", "$SRV.INFO lists the methods as endpoints on their subjects")
async def _(s):
    reply = await s.nc.request(f"$SRV.INFO.{s.target.prefix}", b"", timeout=5)
    endpoints = {e["name"]: e for e in json.loads(reply.data)["endpoints"]}
    check("add's subject", endpoints["add"]["subject"], s.subject("add"))


@nats_case("§13.6", "$SRV.STATS counts the requests to each method")
async def _(s):
    await s.request("add", [1, 1])
    reply = await s.nc.request(f"$SRV.STATS.{s.target.prefix}", b"", timeout=5)
    endpoints = {e["name"]: e for e in json.loads(reply.data)["endpoints"]}
    require(f"add was counted: {endpoints.get('add')}", endpoints["add"]["num_requests"] >= 1)


for header, value in [
    ("Dotrpc-Credit", "lots"),
    ("Dotrpc-Credit", "-1"),
    ("Dotrpc-Credit", "65537"),
    ("Dotrpc-Deadline-Ms", "soon"),
]:

    def register(header=header, value=value):
        @nats_case("§13.3", f"a {header} of {value!r} is 400 InvalidParams, naming it")
        async def _(s):
            code, error = error_of(await s.request("count", [1, 0], headers={header: value}))
            check("the status and code", (code, error["code"]), ("400", "InvalidParams"))
            require(f"it names {header}: {error}", header in error["message"])

    register()


@nats_case("§13.3", "a malformed traceparent header is dropped, never refused")
async def _(s):
    reply = await s.request("add", [1, 2], headers={"traceparent": "nonsense"})
    check("the answer", unpack(reply.data), 3)


@nats_case("§13.5", "a ping for a stream the instance does not have is answered with an error")
async def _(s):
    replies, reply = await stream_call(s, "count", [1, 0], 1)
    instance = None
    while True:
        message = await replies.next_msg(timeout=5)
        instance = message.reply or instance
        if kind_of(message) is None:
            break
    # The stream is over; its instance subject no longer names a call.
    answer = await s.nc.request(instance, msgpack.packb([0, 0]), timeout=5, headers={"Dotrpc-Stream": "ping"})
    require(f"an error reply: {answer.headers}", "Nats-Service-Error-Code" in (answer.headers or {}))


@nats_case("§13.5", "input beyond the room granted over NATS ends the call with an error")
async def _(s):
    replies, reply = await stream_call(s, "double", [], 0)
    instance, room = None, 0
    while room == 0:
        message = await replies.next_msg(timeout=5)
        instance = message.reply or instance
        if kind_of(message) == "input_credit":
            room = unpack(message.data)
        elif kind_of(message) == "ping":
            room = unpack(message.data)[0]
    for seq in range(1, room + 6):
        await s.nc.publish(instance, msgpack.packb([seq, seq]), reply=reply, headers={"Dotrpc-Stream": "input"})
    while True:
        message = await replies.next_msg(timeout=5)
        if kind_of(message) is None:
            require(f"an error ends it: {message.headers}", "Nats-Service-Error-Code" in (message.headers or {}))
            return
