"""PROTOCOL.md §4 (requests and responses) on the conformance API."""

import asyncio

import msgpack

from suite import REQUEST, RESPONSE, case, check, error_code, pack, require


@case("§4.2", "a request is answered with its result")
async def _(c):
    check("add(1, 2)", await c.call(1, "add", [1, 2]), [RESPONSE, 1, None, 3])


@case("§4.2", "a dot-joined path reaches a nested namespace")
async def _(c):
    check("math.div(1, 4)", await c.call(2, "math.div", [1.0, 4.0]), [RESPONSE, 2, None, 0.25])


@case("§4.2", "a path three namespaces deep is served")
async def _(c):
    check("mean", await c.call(3, "math.stats.mean", [[1.0, 2.0, 6.0]]), [RESPONSE, 3, None, 3.0])


@case("§4.2", "responses may come in any order: a quick call overtakes a slow one")
async def _(c):
    await c.send([REQUEST, 10, "sleep", [300]])
    await c.send([REQUEST, 11, "add", [1, 1]])
    first = await c.receive()
    check("the quick one first", first, [RESPONSE, 11, None, 2])
    check("then the slow one", await c.receive(), [RESPONSE, 10, None, 300])


@case("§4.2", "a hundred pipelined requests are each answered once")
async def _(c):
    if c.raw_bytes:
        await c.send_bytes(b"".join(pack([REQUEST, i, "add", [i, 1]]) for i in range(100)))
    else:
        for i in range(100):
            await c.send([REQUEST, i, "add", [i, 1]])
    seen = {}
    for _ in range(100):
        answer = await c.receive()
        seen[answer[1]] = answer[3]
    check("every answer", seen, {i: i + 1 for i in range(100)})
    await c.nothing()


@case("§4.2", "a msgid may be used again once its call is answered")
async def _(c):
    check("first", await c.call(5, "add", [1, 2]), [RESPONSE, 5, None, 3])
    check("again", await c.call(5, "add", [2, 2]), [RESPONSE, 5, None, 4])


ECHOES = [
    ("nil", None),
    ("booleans", [True, False]),
    ("positive integers of every width", [0, 127, 128, 255, 256, 65535, 65536, 2**32, 2**64 - 1]),
    ("negative integers of every width", [-1, -32, -33, -128, -129, -32768, -(2**31), -(2**63)]),
    ("a float64", 1.5),
    ("a long string", "dotrpc " * 1000),
    ("a unicode string", "héllo, wörld ✓"),
    ("bytes", b"\x00\x01\xfe\xff" * 100),
    ("a map with non-string keys", {1: "one", 2: [3, 4]}),
    ("nested arrays and maps", {"a": [1, {"b": [None, True, 2.5]}]}),
    ("an extension value", msgpack.ExtType(5, b"\x01\x02\x03")),
]

for what, value in ECHOES:

    def register(what=what, value=value):
        @case("§4.2", f"echo gives back {what} byte for byte")
        async def _(c):
            sent = pack(value)
            await c.send_bytes(pack([REQUEST, 7, "echo", []])[:-1] + b"\x91" + sent)
            answer = await c.response(7)
            check("the result", pack(answer[3]), sent)

    register()


@case("§4.2", "a float32 is given back as a float32")
async def _(c):
    sent = b"\xca\x3f\xc0\x00\x00"  # 1.5 as float32
    await c.send_bytes(b"\x94\x00\x08\xa4echo\x91" + sent)
    answer = await c.response(8)
    check("the value", answer[3], 1.5)


@case("§4.4", "an unknown path is answered UnknownApi, naming it")
async def _(c):
    answer = await c.call(1, "no.such.method", [])
    check("the code", error_code(answer), "UnknownApi")
    require(f"the message names the path: {answer}", "no.such.method" in answer[2]["message"])


@case("§4.4", "an unknown method in a known namespace is UnknownApi")
async def _(c):
    check("the code", error_code(await c.call(1, "math.nope", [])), "UnknownApi")


@case("§4.4", "an empty path is UnknownApi")
async def _(c):
    check("the code", error_code(await c.call(1, "", [])), "UnknownApi")


@case("§4.4", "too few params are InvalidParams, saying how many")
async def _(c):
    answer = await c.call(1, "add", [1])
    check("the code", error_code(answer), "InvalidParams")
    require(f"it says 2 were expected: {answer}", "2" in answer[2]["message"])


@case("§4.4", "too many params are InvalidParams")
async def _(c):
    check("the code", error_code(await c.call(1, "add", [1, 2, 3])), "InvalidParams")


@case("§4.4", "a trailing param that may be missing may be left out")
async def _(c):
    check("digits left out", await c.call(1, "math.round", [2.567]), [RESPONSE, 1, None, 3.0])
    check("digits given", await c.call(2, "math.round", [2.567, 2]), [RESPONSE, 2, None, 2.57])
    answer = await c.call(3, "math.round", [])
    check("a param that may not be missing", error_code(answer), "InvalidParams")
    require(f"it says 2 were expected: {answer}", "expects 2 params, got 0" in answer[2]["message"])


@case("§4.4", "params of the wrong type are InvalidParams")
async def _(c):
    check("the code", error_code(await c.call(1, "add", ["a", "b"])), "InvalidParams")


@case("§3", "params that are not an array are InvalidParams, and the connection goes on")
async def _(c):
    answer = await c.call(1, "add", "not an array")
    check("the code", error_code(answer), "InvalidParams")
    await c.alive()


@case("§3", "params that are a map are InvalidParams, and the connection goes on")
async def _(c):
    check("the code", error_code(await c.call(1, "add", {"a": 1, "b": 2})), "InvalidParams")
    await c.alive()


@case("§4.5", "a server may call its caller back, and take the answer")
async def _(c):
    await c.send([REQUEST, 1, "greet", []])
    callback = await c.receive()
    check("a request to the caller", callback[:1] + callback[2:], [REQUEST, "client.name", []])
    await c.send([RESPONSE, callback[1], None, "tester"])
    check("the greeting", await c.response(1), [RESPONSE, 1, None, "hello, tester"])


@case("§4.5", "a callback answered with an error fails the call, by the server's choice")
async def _(c):
    await c.send([REQUEST, 2, "greet", []])
    callback = await c.receive()
    await c.send([RESPONSE, callback[1], {"code": "UnknownApi", "message": "no client.name"}, None])
    answer = await c.response(2)
    check("an application error", error_code(answer), "Application")


@case("§4.2", "calls from two connections do not mix")
async def _(c):
    other = await c.target.connect()
    try:
        await c.send([REQUEST, 1, "sleep", [100]])
        await other.send([REQUEST, 1, "add", [5, 5]])
        check("the other's", await other.response(1), [RESPONSE, 1, None, 10])
        check("this one's", await c.response(1), [RESPONSE, 1, None, 100])
    finally:
        await other.close()


@case("§4.2", "a connection that goes away mid-call leaves the server serving")
async def _(c):
    other = await c.target.connect()
    await other.send([REQUEST, 1, "sleep", [200]])
    await other.close()
    await asyncio.sleep(0.1)
    await c.alive()
