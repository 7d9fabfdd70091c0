"""PROTOCOL.md §7 (call metadata) and §9 (deadlines, trace context)."""

import time

from suite import REQUEST, RESPONSE, case, check, error_code, require


@case("§7", "a fifth item of nil is no metadata")
async def _(c):
    check("the answer", await c.call(1, "add", [1, 2], None), [RESPONSE, 1, None, 3])


@case("§7", "an empty metadata map is no metadata")
async def _(c):
    check("the answer", await c.call(1, "add", [1, 2], {}), [RESPONSE, 1, None, 3])


@case("§7", "unknown metadata keys are skipped")
async def _(c):
    check("the answer", await c.call(1, "add", [1, 2], {"colour": "blue", 7: [1]}), [RESPONSE, 1, None, 3])


for what, fifth in [("a string", "x"), ("an array", [1, 2]), ("an integer", 5), ("true", True)]:

    def register(what=what, fifth=fifth):
        @case("§3", f"a fifth item that is {what} is InvalidParams, and the connection goes on")
        async def _(c):
            answer = await c.call(1, "add", [1, 2], fifth)
            check("the code", error_code(answer), "InvalidParams")
            await c.alive()

    register()


for what, deadline in [("a string", "soon"), ("negative", -5), ("a float", 1.5), ("nil", None)]:

    def register(what=what, deadline=deadline):
        @case("§9.1", f"a deadline_ms that is {what} is InvalidParams")
        async def _(c):
            answer = await c.call(1, "add", [1, 2], {"deadline_ms": deadline})
            check("the code", error_code(answer), "InvalidParams")
            require(f"it names deadline_ms: {answer}", "deadline_ms" in answer[2]["message"])

    register()


@case("§9.1", "a call past its deadline is answered Timeout, at the deadline")
async def _(c):
    started = time.monotonic()
    answer = await c.call(1, "sleep", [2000], {"deadline_ms": 100})
    took = time.monotonic() - started
    check("the code", error_code(answer), "Timeout")
    require(f"answered at the deadline, not the end: {took:.2f} s", took < 1.5)


@case("§9.1", "a call within its deadline is answered as usual")
async def _(c):
    check("the answer", await c.call(1, "sleep", [10], {"deadline_ms": 2000}), [RESPONSE, 1, None, 10])


@case("§9.2", "a trace context is taken, and the call answered")
async def _(c):
    trace = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "a=1"}
    check("the answer", await c.call(1, "add", [1, 2], trace), [RESPONSE, 1, None, 3])


@case("§9.2", "a malformed trace context is dropped, never refused")
async def _(c):
    for parent in ["nonsense", 42, "00-zz-yy-01", None]:
        answer = await c.call(1, "add", [1, 2], {"traceparent": parent})
        check(f"traceparent {parent!r}", answer, [RESPONSE, 1, None, 3])
