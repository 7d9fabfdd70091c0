"""PROTOCOL.md §10 (error objects and codes)."""

from suite import RESPONSE, case, check, error_code, require


@case("§10", "an application error is an object with code Application, a message and data")
async def _(c):
    answer = await c.call(1, "math.div", [1.0, 0.0])
    check("the shape", (answer[0], answer[1], answer[3]), (RESPONSE, 1, None))
    error = answer[2]
    check("the code", error.get("code"), "Application")
    check("the message", error.get("message"), "division by zero")
    require(f"the data: {error}", "data" in error)


@case("§10", "every error object has a string code and a string message")
async def _(c):
    for msgid, (method, params) in enumerate(
        [("nope", []), ("add", [1]), ("math.div", [1.0, 0.0]), ("math.stats.mean", [[]])]
    ):
        error = (await c.call(msgid, method, params))[2]
        require(f"{method}: {error}", isinstance(error.get("code"), str) and isinstance(error.get("message"), str))


@case("§10", "a response carries either an error or a result, never both")
async def _(c):
    failed = await c.call(1, "nope", [])
    check("no result beside the error", failed[3], None)
    succeeded = await c.call(2, "add", [1, 1])
    check("no error beside the result", succeeded[2], None)


@case("§10", "codes are the table's: UnknownApi, InvalidParams, Application, Timeout")
async def _(c):
    seen = {
        error_code(await c.call(1, "nope", [])),
        error_code(await c.call(2, "add", [])),
        error_code(await c.call(3, "math.div", [1.0, 0.0])),
        error_code(await c.call(4, "sleep", [1000], {"deadline_ms": 10})),
    }
    check("the codes", seen, {"UnknownApi", "InvalidParams", "Application", "Timeout"})
