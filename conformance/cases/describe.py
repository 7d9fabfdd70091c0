"""PROTOCOL.md §12 (the description)."""

from suite import RESPONSE, case, check, require


async def described(c):
    answer = await c.call(1, "rpc.describe", [])
    check("answered", (answer[0], answer[2]), (RESPONSE, None))
    return {method["path"]: method for method in answer[3]}


@case("§12", "rpc.describe lists every method of the conformance API")
async def _(c):
    methods = await described(c)
    # `echo` is a handler registered at run time, without a description.
    expected = {"add", "sleep", "greet", "count", "sum", "double", "log",
                "math.div", "math.stats.mean", "stats.notifications", "events.subscribe"}
    require(f"missing: {expected - set(methods)}", expected <= set(methods))


@case("§12", "each method has a path, params, returns, event and docs")
async def _(c):
    for path, method in (await described(c)).items():
        for field in ("path", "params", "returns", "event", "docs"):
            require(f"{path} has {field}: {method}", field in method)


@case("§12", "params are named and typed, in order")
async def _(c):
    add = (await described(c))["add"]
    check("add's params", [(p["name"], p["ty"]) for p in add["params"]], [("a", "i64"), ("b", "i64")])


@case("§12", "events are marked as events")
async def _(c):
    methods = await described(c)
    check("log is an event", methods["log"]["event"], True)
    check("add is not", methods["add"]["event"], False)


@case("§12", "streaming methods name their item types")
async def _(c):
    methods = await described(c)
    check("count streams u64", methods["count"].get("stream"), "u64")
    check("sum takes i64", methods["sum"].get("input"), "i64")
    check("double both ways", (methods["double"].get("input"), methods["double"].get("stream")), ("i64", "i64"))
    require("add streams nothing", "stream" not in methods["add"] or methods["add"]["stream"] is None)
