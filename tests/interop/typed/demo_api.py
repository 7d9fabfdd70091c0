"""An API as its server's rpc.describe tells it, written by
`dotrpc describe ADDR --python`. Regenerate rather than edit."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, Protocol, TypeAlias, TypedDict, Union


class Address(TypedDict):
    name: str
    lines: list[str]
    country: str


DiscountPercent = TypedDict("DiscountPercent", {"Percent": int})


DiscountCents = TypedDict("DiscountCents", {"Cents": int})


class DiscountCodeFields(TypedDict):
    code: str


DiscountCode = TypedDict("DiscountCode", {"Code": "DiscountCodeFields"})


Discount: TypeAlias = Union["DiscountPercent", "DiscountCents", "DiscountCode"]


class Item(TypedDict):
    sku: str
    price_cents: int
    kind: Kind
    tags: NotRequired[list[str]]


class KindToyFields(TypedDict):
    min_age: int


KindToy = TypedDict("KindToy", {"Toy": "KindToyFields"})


KindFood = TypedDict("KindFood", {"Food": tuple[str, bool]})


KindGift = TypedDict("KindGift", {"Gift": "Item"})


Kind: TypeAlias = Union[Literal["Book"], "KindToy", "KindFood", "KindGift"]


class Line(TypedDict):
    item: Item
    quantity: int


class Order(TypedDict):
    lines: list[Line]
    discount: NotRequired[Discount | None]
    ship_to: Address


class Quote(TypedDict):
    total_cents: int
    items: int
    ship_to: str


class ShopErrorUnknownCodeFields(TypedDict):
    code: str


ShopErrorUnknownCode = TypedDict("ShopErrorUnknownCode", {"UnknownCode": "ShopErrorUnknownCodeFields"})


ShopError: TypeAlias = Union[Literal["EmptyOrder"], "ShopErrorUnknownCode"]


class DemoApi_events(Protocol):
    async def subscribe(self, n: int) -> None:
        """Sends `events.tick [i]` for i in 0..n to the caller; one-way.
        One-way: sent as a notification; nothing is answered."""
        ...


class DemoApi_math_stats(Protocol):
    async def mean(self, values: list[float]) -> float:
        """The mean of the values.
        Raises RpcError with code "Application" and data a str."""
        ...


class DemoApi_math(Protocol):
    @property
    def stats(self) -> DemoApi_math_stats: ...

    async def div(self, a: float, b: float) -> float:
        """Divides; by zero is an application error.
        Raises RpcError with code "Application" and data a str."""
        ...

    async def round(self, x: float, digits: int | None = None) -> float:
        """Rounds `x` to `digits` decimal places; `digits` may be left out (0),
        as a param added to a method later would be."""
        ...


class DemoApi_shop(Protocol):
    async def quote(self, order: Order) -> Quote:
        """Prices an order: each line's price times its quantity, less the
        discount; a gift's price is its wrapped item's.
        Raises RpcError with code "Application" and data a ShopError."""
        ...


class DemoApi_stats(Protocol):
    async def notifications(self) -> int:
        """How many `log` notifications arrived so far."""
        ...


class DemoApi(Protocol):
    @property
    def events(self) -> DemoApi_events: ...

    @property
    def math(self) -> DemoApi_math: ...

    @property
    def shop(self) -> DemoApi_shop: ...

    @property
    def stats(self) -> DemoApi_stats: ...

    async def add(self, a: int, b: int) -> int:
        """Adds two integers."""
        ...

    # count: a stream of int ("count")

    # double: streams both ways, int in and int out ("double")

    async def greet(self) -> str:
        """Asks the caller its name (`client.name()`, a call back over the
        same connection) and greets it.
        Raises RpcError with code "Application" and data a str."""
        ...

    async def log(self, line: Any) -> None:
        """Counts a log line; one-way.
        One-way: sent as a notification; nothing is answered."""
        ...

    async def sleep(self, ms: int) -> int:
        """Waits `ms` milliseconds, then returns `ms`."""
        ...

    # sum: takes a stream of int ("sum")
