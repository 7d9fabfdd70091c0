"""PROTOCOL.md §11.1-§11.3 (a call that answers with a stream of items)."""

import asyncio

from suite import NOTIFICATION, REQUEST, RESPONSE, case, check, error_code, require


def item(msgid, value):
    return [NOTIFICATION, "rpc.item", [msgid, value]]


async def items(c, msgid, n):
    return [await c.receive() for _ in range(n)]


@case("§11.1", "a stream call gets its items, then its answer")
async def _(c):
    await c.send([REQUEST, 1, "count", [3, 0], {"credit": 8}])
    check("the items", await items(c, 1, 3), [item(1, i) for i in range(3)])
    check("the end", await c.receive(), [RESPONSE, 1, None, None])


@case("§11.1", "no more items come than the window granted")
async def _(c):
    await c.send([REQUEST, 1, "count", [10, 0], {"credit": 3}])
    check("the window", await items(c, 1, 3), [item(1, i) for i in range(3)])
    await c.nothing()


@case("§11.1", "rpc.credit grants exactly that many more")
async def _(c):
    await c.send([REQUEST, 1, "count", [10, 0], {"credit": 2}])
    await items(c, 1, 2)
    await c.send([NOTIFICATION, "rpc.credit", [1, 3]])
    check("three more", await items(c, 1, 3), [item(1, i) for i in range(2, 5)])
    await c.nothing()


@case("§11.1", "a stream with no first window waits for credit")
async def _(c):
    await c.send([REQUEST, 1, "count", [2, 0]])
    await c.nothing()
    await c.send([NOTIFICATION, "rpc.credit", [1, 2]])
    check("the items", await items(c, 1, 2), [item(1, 0), item(1, 1)])
    check("the end", await c.receive(), [RESPONSE, 1, None, None])


@case("§11.1", "a first window of 0 waits for credit")
async def _(c):
    await c.send([REQUEST, 1, "count", [1, 0], {"credit": 0}])
    await c.nothing()
    await c.send([NOTIFICATION, "rpc.credit", [1, 1]])
    check("the item", await c.receive(), item(1, 0))


@case("§11.1", "credit may be granted before the stream's first item, and adds up")
async def _(c):
    await c.send([REQUEST, 1, "count", [4, 0], {"credit": 1}])
    await c.send([NOTIFICATION, "rpc.credit", [1, 1]])
    await c.send([NOTIFICATION, "rpc.credit", [1, 2]])
    check("all four", await items(c, 1, 4), [item(1, i) for i in range(4)])
    check("the end", await c.receive(), [RESPONSE, 1, None, None])


@case("§11.2", "the largest first window, 65 536, is taken")
async def _(c):
    await c.send([REQUEST, 1, "count", [3, 0], {"credit": 65536}])
    check("the items", await items(c, 1, 3), [item(1, i) for i in range(3)])
    check("the end", await c.receive(), [RESPONSE, 1, None, None])


for what, window in [
    ("65 537", 65537),
    ("4 294 967 296", 4294967296),
    ("a string", "lots"),
    ("negative", -1),
    ("a float", 1.5),
    ("nil", None),
]:

    def register(what=what, window=window):
        @case("§11.2", f"a first window that is {what} is InvalidParams, and the connection goes on")
        async def _(c):
            answer = await c.call(1, "count", [3, 0], {"credit": window})
            check("the code", error_code(answer), "InvalidParams")
            require(f"it names credit: {answer}", "credit" in answer[2]["message"])
            require("no item came first", not c.others)
            await c.alive()

    register()


@case("§11.2", "granting more than 65 536 items ahead ends the stream with an error")
async def _(c):
    await c.send([REQUEST, 1, "count", [100000, 0], {"credit": 1}])
    check("the first item", await c.receive(), item(1, 0))
    await c.send([NOTIFICATION, "rpc.credit", [1, 4294967295]])
    end = await c.response(1)
    require(f"an error ends it: {end}", end[2] is not None)
    await c.alive()


@case("§3", "credit whose params are not an array is dropped, and streams go on")
async def _(c):
    await c.send([REQUEST, 1, "count", [2, 0], {"credit": 1}])
    check("the first", await c.receive(), item(1, 0))
    await c.send([NOTIFICATION, "rpc.credit", "garbage"])
    await c.send([NOTIFICATION, "rpc.credit", [1, "many"]])
    await c.send([NOTIFICATION, "rpc.credit", [1, 1]])
    check("the second", await c.receive(), item(1, 1))
    check("the end", await c.receive(), [RESPONSE, 1, None, None])


@case("§11.2", "credit for a stream that is not open is dropped")
async def _(c):
    await c.send([NOTIFICATION, "rpc.credit", [555, 10]])
    await c.alive()


@case("§11.2", "items and word of lag sent to the server for nothing are dropped")
async def _(c):
    await c.send([NOTIFICATION, "rpc.item", [555, 1]])
    await c.send([NOTIFICATION, "rpc.lagged", [555, 3]])
    await c.alive()


@case("§11.1", "two streams on one connection have their own credit")
async def _(c):
    await c.send([REQUEST, 1, "count", [5, 0], {"credit": 1}])
    await c.send([REQUEST, 2, "count", [3, 0], {"credit": 8}])
    got = [await c.receive() for _ in range(5)]
    check("stream 2 whole, stream 1 held at one", sorted(map(str, got)), sorted(
        map(str, [item(1, 0), item(2, 0), item(2, 1), item(2, 2), [RESPONSE, 2, None, None]])
    ))
    await c.nothing()
    await c.send([NOTIFICATION, "rpc.credit", [1, 4]])
    check("stream 1 goes on", await items(c, 1, 4), [item(1, i) for i in range(1, 5)])
    check("its end", await c.receive(), [RESPONSE, 1, None, None])


@case("§11.3", "a cancelled stream sends nothing more, not even its answer")
async def _(c):
    await c.send([REQUEST, 1, "count", [1000, 5], {"credit": 2}])
    check("two items", await items(c, 1, 2), [item(1, 0), item(1, 1)])
    await c.send([NOTIFICATION, "rpc.cancel", [1]])
    await c.send([NOTIFICATION, "rpc.credit", [1, 100]])
    await c.nothing(0.5)
    await c.alive()


@case("§11.3", "a stream cancelled before its first item sends nothing")
async def _(c):
    await c.send([REQUEST, 1, "count", [10, 0], {"credit": 0}])
    await c.send([NOTIFICATION, "rpc.cancel", [1]])
    await c.send([NOTIFICATION, "rpc.credit", [1, 10]])
    await c.nothing()
    await c.alive()


@case("§11.3", "a cancel racing the end leaves the connection whole")
async def _(c):
    await c.send([REQUEST, 1, "count", [2, 0], {"credit": 2}])
    await c.send([NOTIFICATION, "rpc.cancel", [1]])
    await asyncio.sleep(0.1)
    await c.alive()


@case("§11.1", "every item comes before the answer")
async def _(c):
    await c.send([REQUEST, 1, "count", [50, 0], {"credit": 50}])
    messages = [await c.receive() for _ in range(51)]
    check("items, then the end", messages, [item(1, i) for i in range(50)] + [[RESPONSE, 1, None, None]])
