"""PROTOCOL.md §12 (the description)."""

from suite import RESPONSE, case, check, require


async def description(c):
    answer = await c.call(1, "rpc.describe", [])
    check("answered", (answer[0], answer[2]), (RESPONSE, None))
    return answer[3]


async def described(c):
    return {method["path"]: method for method in (await description(c))["methods"]}


@case("§12", "rpc.describe answers version 2: methods and the types they name")
async def _(c):
    answer = await description(c)
    require(f"a map: {type(answer)}", isinstance(answer, dict))
    check("version", answer.get("version"), 2)
    require("methods is an array", isinstance(answer.get("methods"), list))
    require("types is a map", isinstance(answer.get("types"), dict))


@case("§12", "shapes say what each param and result is on the wire")
async def _(c):
    methods = await described(c)
    check("add's shapes", methods["add"]["shapes"], {"params": ["i64", "i64"], "returns": "i64"})
    check("mean's shapes", methods["math.stats.mean"]["shapes"],
          {"params": [{"seq": "f64"}], "returns": "f64", "error": "string"})
    check("count's items", methods["count"]["shapes"].get("stream"), "u64")
    check("sum's input", methods["sum"]["shapes"].get("input"), "i64")


@case("§12", "every name a shape gives is defined in types, structs with their fields")
async def _(c):
    answer = await description(c)
    types = answer["types"]

    def names(shape):
        if isinstance(shape, dict):
            for key, inner in shape.items():
                if key == "named":
                    yield inner
                else:
                    for part in inner if isinstance(inner, list) else [inner]:
                        yield from names(part)
        elif isinstance(shape, list):
            for part in shape:
                yield from names(part)

    used = set()
    for method in answer["methods"]:
        used.update(names(method.get("shapes", {})))
    for definition in types.values():
        used.update(names(definition))
    require(f"undefined: {used - set(types)}", used <= set(types))
    quote = {m["path"]: m for m in answer["methods"]}["shop.quote"]["shapes"]
    check("quote takes an Order", quote["params"], [{"named": "Order"}])
    order = {f["name"]: f for f in types["Order"]["struct"]}
    check("an order's lines", order["lines"]["type"], {"seq": {"named": "Line"}})
    require(f"discount may be left out: {order['discount']}", order["discount"].get("optional") is True)
    variants = [v["name"] for v in types["Kind"]["enum"]]
    check("Kind's variants, in order", variants, ["Book", "Toy", "Food", "Gift"])


@case("§12", "a value written as its shapes say is taken: nested structs and enums")
async def _(c):
    order = {
        "lines": [
            {"item": {"sku": "b", "price_cents": 1000, "kind": "Book"}, "quantity": 1},
            {"item": {"sku": "t", "price_cents": 500, "kind": {"Toy": {"min_age": 3}}}, "quantity": 2},
        ],
        "discount": {"Code": {"code": "HALF"}},
        "ship_to": {"name": "Ada", "lines": [], "country": "NZ"},
    }
    answer = await c.call(1, "shop.quote", [order])
    check("the quote", (answer[2], answer[3]), (None, {"total_cents": 1000, "items": 3, "ship_to": "NZ"}))
    order["discount"] = {"Code": {"code": "NOPE"}}
    answer = await c.call(2, "shop.quote", [order])
    check("the error's data is a ShopError", answer[2].get("data"), {"UnknownCode": {"code": "NOPE"}})


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
