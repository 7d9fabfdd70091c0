"""Streams (PROTOCOL.md §11): a call's answer as a sequence of items, its
input as one, or both, each way with its own credit.

The client is the consumer of answer items: it asks for `window` items in
the request, and grants more (``rpc.credit``) as the program takes them, a
half window at a time, so a slow program holds back its own stream only. A
server that sends more than it was granted breaks the protocol: the stream
ends with an error and is cancelled. The client is the producer of input
items: it sends one per unit of room the server grants (``rpc.input_credit``),
and waits when there is none.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Self

from ._errors import Cancelled, RpcError

if TYPE_CHECKING:
    from ._client import Client

NOTIFICATION = 2
# The most a consumer may grant ahead (§11.2).
MAX_WINDOW = 65_536


class StreamState:
    """One stream call's state, kept by the client under its msgid."""

    def __init__(self, client: Client[Any], msgid: int, path: str, window: int | None) -> None:
        if window is not None and not 0 < window <= MAX_WINDOW:
            raise ValueError(f"a window is 1 to {MAX_WINDOW} items, not {window}")
        self.client = client
        self.msgid = msgid
        self.path = path
        self.window = window or 0
        self.items: deque[Any] = deque()
        self.granted = self.window
        self.received = 0
        self.lagged = 0
        self.untaken_grant = 0
        self.input_room = 0
        self.input_ended = False
        self.ended = False
        self.error: RpcError | None = None
        self.done: asyncio.Future[Any] = client._loop.create_future()
        self.changed = asyncio.Event()

    def control(self, path: str, rest: list[Any]) -> str | None:
        """A stream message for this call; says what is wrong if the server
        broke the protocol."""
        if path == "rpc.item" and len(rest) == 1:
            self.received += 1
            # Lagged items count as room (§11.6).
            if self.received > self.granted + self.lagged:
                return f"{self.path}: the server sent more than the {self.granted} items it was given room for"
            self.items.append(rest[0])
        elif path == "rpc.lagged" and rest and _count(rest[0]):
            self.lagged += rest[0]
        elif path == "rpc.input_credit" and rest and _count(rest[0]):
            self.input_room += rest[0]
        else:
            return None
        self.changed.set()
        return None

    def finish(self, error: RpcError | None, result: Any = None) -> None:
        """The call was answered (or lost): the stream ends after the items
        already come."""
        if self.ended:
            return
        self.ended = True
        self.error = error
        if not self.done.done():
            if error is None:
                self.done.set_result(result)
            else:
                self.done.set_exception(error)
                self.done.exception()  # retrieved: the items' reader sees it
        self.changed.set()

    async def next_item(self) -> tuple[bool, Any]:
        """The next item, as ``(True, item)``, or ``(False, None)`` at the
        end; raises the error the stream ended with."""
        while not self.items:
            if self.ended:
                if self.error is not None:
                    raise self.error
                return False, None
            self.changed.clear()
            await self.changed.wait()
        item = self.items.popleft()
        self.untaken_grant += 1
        if self.untaken_grant >= max(1, self.window // 2) and not self.ended:
            self.client._post([NOTIFICATION, "rpc.credit", [self.msgid, self.untaken_grant]])
            self.granted += self.untaken_grant
            self.untaken_grant = 0
        return True, item

    async def send(self, item: Any) -> None:
        """Sends one input item, waiting for room."""
        if self.input_ended and not self.ended:
            raise RpcError("Misuse", f"{self.path}: the input has ended")
        while self.input_room == 0 or self.ended:
            if self.ended:
                if self.error is not None:
                    raise self.error
                raise Cancelled(f"{self.path} was answered before its input ended; it takes no more items")
            self.changed.clear()
            await self.changed.wait()
        if self.ended:
            raise self.error or Cancelled(f"{self.path} takes no more items")
        self.input_room -= 1
        self.client._post([NOTIFICATION, "rpc.input", [self.msgid, item]])

    def end_input(self) -> None:
        if not self.input_ended and not self.ended:
            self.input_ended = True
            self.client._post([NOTIFICATION, "rpc.input_end", [self.msgid]])

    def cancel(self) -> None:
        """Gives the call up: the server stops it (``rpc.cancel``)."""
        if self.ended:
            return
        self.client._streams.pop(self.msgid, None)
        if self.client._link is not None:
            self.client._post([NOTIFICATION, "rpc.cancel", [self.msgid]])
        self.finish(Cancelled(f"{self.path} was cancelled"))


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_WINDOW * 16


class _Call:
    """What every stream call has: its request is sent when first used."""

    def __init__(self, opener: Callable[[], StreamState]) -> None:
        self._opener = opener
        self._state: StreamState | None = None

    def _started(self) -> StreamState:
        if self._state is None:
            self._state = self._opener()
        return self._state

    @property
    def lagged(self) -> int:
        """How many items the server dropped for this consumer, so far
        (a server that keeps only the latest items says so)."""
        return 0 if self._state is None else self._state.lagged

    def cancel(self) -> None:
        """Stops the call."""
        if self._state is not None:
            self._state.cancel()

    async def result(self, timeout: float | None = None) -> Any:
        """The call's answer: its result, or the error it ended with."""
        return await asyncio.wait_for(asyncio.shield(self._started().done), timeout)


class _Items(_Call):
    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        state = self._started()
        try:
            while True:
                more, item = await state.next_item()
                if not more:
                    return
                yield item
        finally:
            # Left early (a break, an exception): the server stops.
            state.cancel()


class ItemStream(_Items):
    """The items a call answers with: ``async for item in stream``.
    Leaving the loop early cancels the call; ``async with`` cancels it on
    the way out too."""

    async def __aenter__(self) -> ItemStream:
        self._started()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.cancel()


class _Input(_Call):
    async def send(self, item: Any) -> None:
        """Sends an item, once the server has room for it."""
        await self._started().send(item)

    async def end(self) -> None:
        """Ends the input: the server's handler sees no more items."""
        self._started().end_input()

    async def result(self, timeout: float | None = None) -> Any:
        """Ends the input if it has not ended, and waits for the answer."""
        self._started().end_input()
        return await super().result(timeout)

    async def __aenter__(self) -> Self:
        self._started()
        return self

    async def __aexit__(self, kind: Any, *exc: Any) -> None:
        # Done: the input ends. Failed: the call is given up.
        if kind is None:
            self._started().end_input()
        else:
            self.cancel()


class Upload(_Input):
    """A call that takes a stream of items: ``async with client.upload(p)
    as up:`` sends the request, ``await up.send(x)`` each item; leaving the
    block ends the input (or cancels the call on an exception);
    ``await up.result()`` is the answer."""


class Conversation(_Input, _Items):
    """A call that streams both ways: ``send`` items, iterate the answers,
    ``end`` the input, ``result`` the answer."""
