"""PROTOCOL.md §2 (framing) and §3 (what a malformed message gets)."""

import asyncio

from suite import NOTIFICATION, REQUEST, RESPONSE, case, check, pack


@case("§2.1", "two messages in one write are both taken", ("stream",))
async def _(c):
    await c.send_bytes(pack([REQUEST, 1, "add", [1, 2]]) + pack([REQUEST, 2, "add", [3, 4]]))
    check("the first", await c.response(1), [RESPONSE, 1, None, 3])
    check("the second", await c.response(2), [RESPONSE, 2, None, 7])


@case("§2.1", "a message split byte by byte is taken whole", ("stream",))
async def _(c):
    for byte in pack([REQUEST, 3, "add", [2, 2]]):
        await c.send_bytes(bytes([byte]))
        await asyncio.sleep(0.001)
    check("the answer", await c.response(3), [RESPONSE, 3, None, 4])


@case("§2.1", "a message split across writes at every third byte is taken", ("stream",))
async def _(c):
    data = pack([REQUEST, 4, "echo", ["x" * 300]])
    for at in range(0, len(data), 3):
        await c.send_bytes(data[at : at + 3])
    check("the answer", await c.response(4), [RESPONSE, 4, None, "x" * 300])


@case("§2.2", "one WebSocket message carries one msgpack-rpc message", ("message",))
async def _(c):
    await c.send([REQUEST, 5, "add", [1, 1]])
    await c.send([REQUEST, 6, "add", [2, 2]])
    check("the first", await c.response(5), [RESPONSE, 5, None, 2])
    check("the second", await c.response(6), [RESPONSE, 6, None, 4])


@case("§2.2", "a WebSocket text message closes the connection", ("message",))
async def _(c):
    await c.socket.send('[0, 1, "add", [1, 2]]')
    await c.closed()


@case("§3", "bytes that are not msgpack close the connection")
async def _(c):
    await c.send_bytes(b"\xc1\xc1\xc1")
    await c.closed()


@case("§3", "a message that is not an array closes the connection")
async def _(c):
    await c.send({"type": 0, "msgid": 1})
    await c.closed()


@case("§3", "a message of an unknown type closes the connection")
async def _(c):
    await c.send([3, 1, "add", [1, 2]])
    await c.closed()


@case("§3", "a request of three items closes the connection")
async def _(c):
    await c.send([REQUEST, 1, "add"])
    await c.closed()


@case("§3", "a request of six items closes the connection")
async def _(c):
    await c.send([REQUEST, 1, "add", [1, 2], None, None])
    await c.closed()


@case("§3", "a notification of two items closes the connection")
async def _(c):
    await c.send([NOTIFICATION, "log"])
    await c.closed()


@case("§3", "a response of two items closes the connection")
async def _(c):
    await c.send([RESPONSE, 1])
    await c.closed()


@case("§3", "a request whose msgid is not an integer closes the connection")
async def _(c):
    await c.send([REQUEST, "one", "add", [1, 2]])
    await c.closed()


@case("§3", "a request whose method is not a string closes the connection")
async def _(c):
    await c.send([REQUEST, 1, 42, [1, 2]])
    await c.closed()


@case("§3", "a declared length over the message limit closes the connection at once", ("stream",))
async def _(c):
    # A str32 header claiming 4 GiB, and no more: refused before its bytes.
    await c.send_bytes(b"\x94\x00\x01\xa3add\xdb\xff\xff\xff\xff")
    await c.closed()


@case("§3", "nesting deeper than the limit closes the connection")
async def _(c):
    deep = []
    for _ in range(200):
        deep = [deep]
    await c.send([REQUEST, 1, "echo", [deep]])
    await c.closed()


@case("§3", "a connection closed for garbage leaves the others open")
async def _(c):
    other = await c.target.connect()
    try:
        await c.send_bytes(b"\xc1")
        await c.closed()
        await other.alive()
    finally:
        await other.close()


@case("§4.1", "a msgid in any integer encoding is answered in kind")
async def _(c):
    # 0xcd: uint16, 0xce: uint32 encodings of small values.
    await c.send_bytes(b"\x94\x00\xcd\x00\x07\xa3add\x92\x01\x02")
    check("uint16 msgid", await c.response(7), [RESPONSE, 7, None, 3])
    await c.send_bytes(b"\x94\x00\xce\x00\x00\x00\x08\xa3add\x92\x01\x02")
    check("uint32 msgid", await c.response(8), [RESPONSE, 8, None, 3])


@case("§4.1", "the largest msgid is answered")
async def _(c):
    check("msgid 2^32-1", await c.call(4294967295, "add", [1, 2]), [RESPONSE, 4294967295, None, 3])


@case("§4.1", "msgid 0 is answered")
async def _(c):
    check("msgid 0", await c.call(0, "add", [1, 2]), [RESPONSE, 0, None, 3])


@case("§4.1", "a method sent as bin (old msgpack) is taken as its text")
async def _(c):
    await c.send_bytes(b"\x94\x00\x09\xc4\x03add\x92\x01\x02")
    check("the answer", await c.response(9), [RESPONSE, 9, None, 3])


@case("§4.3", "a response this side did not ask for is dropped, and nothing else")
async def _(c):
    await c.send([RESPONSE, 77, None, 5])
    await c.send([RESPONSE, 78, {"code": "Internal", "message": "x"}, None])
    await c.nothing()
    await c.alive()
