"""PROTOCOL.md §11.4-§11.5 (a call whose input is a stream, and both ways)."""

import asyncio

from suite import NOTIFICATION, REQUEST, RESPONSE, Failed, case, check, error_code, require


async def grant(c, msgid):
    message = await c.receive()
    check("a grant", message[:2], [NOTIFICATION, "rpc.input_credit"])
    check("for the call", message[2][0], msgid)
    return message[2][1]


async def answer_after_grants(c, msgid):
    while True:
        message = await c.receive()
        if message[0] == RESPONSE:
            check("the call's answer", message[1], msgid)
            return message
        check("only grants before the answer", message[1], "rpc.input_credit")


@case("§11.4", "a call's input is granted room by the handler")
async def _(c):
    await c.send([REQUEST, 1, "sum", []])
    require("some room", await grant(c, 1) > 0)


@case("§11.3", "a caller that stops sending mid-input gets its call answered with an error", ("stream",))
async def _(c):
    await c.send([REQUEST, 1, "sum", [], {"credit": 0}])
    await grant(c, 1)
    await c.send([NOTIFICATION, "rpc.input", [1, 5]])
    c.end_sending()
    answer = await answer_after_grants(c, 1)
    require(f"an error answer: {answer}", answer[2] is not None and answer[3] is None)
    await c.closed()


@case("§11.3", "a WebSocket close mid-input is answered at once", ("message",))
async def _(c):
    await c.send([REQUEST, 1, "sum", [], {"credit": 0}])
    await grant(c, 1)
    try:
        await asyncio.wait_for(c.socket.close(), 3.0)
    except asyncio.TimeoutError:
        raise Failed("the server did not answer the close within 3 s: it waits for input that cannot come") from None


@case("§11.4", "items within the room, then the end, are answered")
async def _(c):
    await c.send([REQUEST, 1, "sum", [], {"credit": 0}])
    room, sent, total = 0, 0, 0
    while sent < 100:
        if room == 0:
            room += await grant(c, 1)
            continue
        await c.send([NOTIFICATION, "rpc.input", [1, sent]])
        total += sent
        sent += 1
        room -= 1
    await c.send([NOTIFICATION, "rpc.input_end", [1]])
    check("the total", await answer_after_grants(c, 1), [RESPONSE, 1, None, total])


@case("§11.4", "an input that ends at once is an empty input")
async def _(c):
    await c.send([REQUEST, 1, "sum", []])
    await c.send([NOTIFICATION, "rpc.input_end", [1]])
    check("nothing summed", await answer_after_grants(c, 1), [RESPONSE, 1, None, 0])


@case("§11.4", "input beyond the room granted ends the call InvalidParams, and the connection goes on")
async def _(c):
    # `double` with no room for its answers takes one item, then waits to
    # answer it: it grants nothing more, so what is sent past its first
    # grant overruns it, however the messages are timed.
    await c.send([REQUEST, 1, "double", [], {"credit": 0}])
    room = await grant(c, 1)
    for i in range(room + 5):
        await c.send([NOTIFICATION, "rpc.input", [1, i]])
    answer = await answer_after_grants(c, 1)
    check("the code", error_code(answer), "InvalidParams")
    require(f"it says the room was overrun: {answer}", "room" in answer[2]["message"])
    await c.alive()


@case("§11.4", "an input item that does not decode ends the call with an error")
async def _(c):
    await c.send([REQUEST, 1, "sum", []])
    await grant(c, 1)
    await c.send([NOTIFICATION, "rpc.input", [1, "not a number"]])
    answer = await answer_after_grants(c, 1)
    require(f"an error: {answer}", answer[2] is not None)
    await c.alive()


@case("§11.4", "input for a call that takes none is dropped")
async def _(c):
    await c.send([NOTIFICATION, "rpc.input", [777, 1]])
    await c.send([NOTIFICATION, "rpc.input_end", [777]])
    await c.send([NOTIFICATION, "rpc.input_credit", [777, 5]])
    await c.alive()


@case("§3", "input messages whose params are not an array are dropped, and the input goes on")
async def _(c):
    await c.send([REQUEST, 1, "sum", []])
    await grant(c, 1)
    await c.send([NOTIFICATION, "rpc.input", {"a": 1}])
    await c.send([NOTIFICATION, "rpc.input_end", "x"])
    await c.send([NOTIFICATION, "rpc.input", [1, 5]])
    await c.send([NOTIFICATION, "rpc.input_end", [1]])
    check("the total", await answer_after_grants(c, 1), [RESPONSE, 1, None, 5])


@case("§11.4", "a cancelled upload is never answered")
async def _(c):
    await c.send([REQUEST, 1, "sum", []])
    await grant(c, 1)
    await c.send([NOTIFICATION, "rpc.input", [1, 5]])
    await c.send([NOTIFICATION, "rpc.cancel", [1]])
    await c.send([NOTIFICATION, "rpc.input_end", [1]])
    await c.nothing()
    await c.alive()


@case("§11.5", "a call may stream both ways, each way with its own credit")
async def _(c):
    await c.send([REQUEST, 1, "double", [], {"credit": 4}])
    room = await grant(c, 1)
    sent = min(room, 3)
    for i in range(sent):
        await c.send([NOTIFICATION, "rpc.input", [1, i]])
    got = []
    while len(got) < sent:
        message = await c.receive()
        if message[1] == "rpc.item":
            got.append(message[2])
    check("each doubled", got, [[1, 2 * i] for i in range(sent)])
    await c.send([NOTIFICATION, "rpc.input_end", [1]])
    check("the end", await answer_after_grants(c, 1), [RESPONSE, 1, None, None])


@case("§11.5", "a conversation's answers wait for their credit while its input goes on")
async def _(c):
    await c.send([REQUEST, 1, "double", [], {"credit": 1}])
    room = await grant(c, 1)
    for i in range(min(room, 2)):
        await c.send([NOTIFICATION, "rpc.input", [1, i]])
    first = await c.receive()
    while first[1] != "rpc.item":
        first = await c.receive()
    check("one answer within the window", first, [NOTIFICATION, "rpc.item", [1, 0]])
    others = []
    try:
        while True:
            others.append(await c.receive(0.3))
    except Exception:
        pass
    require(f"no second answer without credit: {others}", all(m[1] != "rpc.item" for m in others))
    await c.send([NOTIFICATION, "rpc.credit", [1, 1]])
    second = await c.receive()
    while second[1] != "rpc.item":
        second = await c.receive()
    check("the second answer", second, [NOTIFICATION, "rpc.item", [1, 2]])
