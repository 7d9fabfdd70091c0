"""PROTOCOL.md §8 (cancellation)."""

import asyncio

from suite import NOTIFICATION, REQUEST, RESPONSE, case, check


@case("§8", "a cancelled call is never answered")
async def _(c):
    await c.send([REQUEST, 1, "sleep", [300]])
    await asyncio.sleep(0.05)
    await c.send([NOTIFICATION, "rpc.cancel", [1]])
    await c.nothing(0.6)
    await c.alive()


@case("§8", "a cancel of a call that is not running is ignored")
async def _(c):
    await c.send([NOTIFICATION, "rpc.cancel", [4242]])
    await c.alive()


@case("§8", "a cancel after the answer is ignored")
async def _(c):
    check("the answer", await c.call(1, "add", [1, 2]), [RESPONSE, 1, None, 3])
    await c.send([NOTIFICATION, "rpc.cancel", [1]])
    await c.alive()


@case("§3", "a cancel whose params are not an array is dropped, and the connection goes on")
async def _(c):
    await c.send([REQUEST, 1, "sleep", [200]])
    await c.send([NOTIFICATION, "rpc.cancel", "x"])
    check("the call was not cancelled", await c.response(1), [RESPONSE, 1, None, 200])


@case("§8", "a cancel that names no msgid is ignored")
async def _(c):
    await c.send([REQUEST, 1, "sleep", [200]])
    await c.send([NOTIFICATION, "rpc.cancel", ["one"]])
    await c.send([NOTIFICATION, "rpc.cancel", []])
    check("the call was not cancelled", await c.response(1), [RESPONSE, 1, None, 200])


@case("§8", "cancelling one call leaves the others")
async def _(c):
    await c.send([REQUEST, 1, "sleep", [300]])
    await c.send([REQUEST, 2, "sleep", [300]])
    await c.send([NOTIFICATION, "rpc.cancel", [1]])
    check("the other is answered", await c.response(2), [RESPONSE, 2, None, 300])
    await c.nothing()
