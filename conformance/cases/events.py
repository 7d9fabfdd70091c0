"""PROTOCOL.md §5 (notifications)."""

import asyncio

from suite import NOTIFICATION, RESPONSE, case, check, require


async def notifications_counted(c, msgid):
    answer = await c.call(msgid, "stats.notifications", [])
    return answer[3]


@case("§5", "a notification is taken and never answered")
async def _(c):
    before = await notifications_counted(c, 1)
    await c.send([NOTIFICATION, "log", ["hello"]])
    await c.nothing()
    after = await notifications_counted(c, 2)
    require(f"it was counted: {before} then {after}", after >= before + 1)


@case("§5", "a notification of an unknown path is dropped silently")
async def _(c):
    await c.send([NOTIFICATION, "no.such.event", [1]])
    await c.nothing()
    await c.alive()


@case("§3", "a notification whose params are not an array is dropped, and the connection goes on")
async def _(c):
    await c.send([NOTIFICATION, "no.such.event", "garbage"])
    await c.send([NOTIFICATION, "log", {"a": 1}])
    await c.nothing()
    await c.alive()


@case("§5", "a server sends notifications to its caller, in order")
async def _(c):
    await c.send([NOTIFICATION, "events.subscribe", [5]])
    ticks = [await c.receive() for _ in range(5)]
    check("the ticks", ticks, [[NOTIFICATION, "events.tick", [i]] for i in range(5)])


@case("§5", "a notification with wrong params is dropped without an answer")
async def _(c):
    await c.send([NOTIFICATION, "events.subscribe", ["many"]])
    await c.nothing()
    await c.alive()


@case("§5", "a flood of notifications keeps the connection up")
async def _(c):
    for i in range(500):
        await c.send([NOTIFICATION, "log", [i]])
    await asyncio.sleep(0.1)
    await c.alive()
