"""PROTOCOL.md §6 (the hello and its features)."""

from suite import NOTIFICATION, case, check, require


@case("§6", "a server sends no hello to a peer that sent none")
async def _(c):
    await c.alive()
    await c.nothing()
    require("no hello", not any(m[:2] == [NOTIFICATION, "rpc.hello"] for m in c.others))


@case("§6", "a hello is answered with the server's hello")
async def _(c):
    await c.send([NOTIFICATION, "rpc.hello", [{"dotrpc": 1, "features": ["cancel"]}]])
    answer = await c.receive(hello=True)
    check("a hello", answer[:2], [NOTIFICATION, "rpc.hello"])
    info = answer[2][0]
    check("the protocol version", info.get("dotrpc"), 1)
    require(f"features are a list of strings: {info}", all(isinstance(f, str) for f in info["features"]))


@case("§6", "the server's hello lists cancel, deadline and trace")
async def _(c):
    await c.send([NOTIFICATION, "rpc.hello", [{"dotrpc": 1, "features": []}]])
    answer = await c.receive(hello=True)
    require(f"the features: {answer}", {"cancel", "deadline", "trace"} <= set(answer[2][0]["features"]))


@case("§6", "the server answers one hello only, however many come")
async def _(c):
    for _ in range(3):
        await c.send([NOTIFICATION, "rpc.hello", [{"dotrpc": 1, "features": []}]])
    first = await c.receive(hello=True)
    check("a hello", first[:2], [NOTIFICATION, "rpc.hello"])
    await c.alive()
    require("one hello", not any(m[:2] == [NOTIFICATION, "rpc.hello"] for m in c.others))


@case("§6", "unknown features in a hello are ignored")
async def _(c):
    await c.send([NOTIFICATION, "rpc.hello", [{"dotrpc": 9, "features": ["teleport", 42]}]])
    await c.receive(hello=True)
    await c.alive()


@case("§6", "a hello that is not a map is ignored, and the connection goes on")
async def _(c):
    await c.send([NOTIFICATION, "rpc.hello", ["nonsense"]])
    await c.send([NOTIFICATION, "rpc.hello", "nonsense"])
    await c.alive()
