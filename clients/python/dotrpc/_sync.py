"""A blocking face on the client, for scripts and REPLs: the client runs
on an event loop in a thread of its own (as the Rust peer's
``BackgroundRuntime`` does), and each call waits for its answer.

    client = dotrpc.connect_sync("tcp://127.0.0.1:4000")
    client.api.add(1, 2)  # 3
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from ._client import Client, Reconnect, Status, connect

T = TypeVar("T")


class SyncProxy:
    """A namespace or method whose calls return their results."""

    __slots__ = ("_client", "_path", "_timeout")

    def __init__(self, client: SyncClient, path: str, timeout: float | None) -> None:
        self._client = client
        self._path = path
        self._timeout = timeout

    def __getattr__(self, name: str) -> SyncProxy:
        if name.startswith("__"):
            raise AttributeError(name)
        path = f"{self._path}.{name}" if self._path else name
        return SyncProxy(self._client, path, self._timeout)

    def __call__(self, *params: Any) -> Any:
        return self._client.call(self._path, *params, timeout=self._timeout)

    def notify(self, *params: Any) -> None:
        self._client.notify(self._path, *params)


class SyncClient:
    """A client whose calls block: ``client.api.math.div(1, 4)`` is
    ``0.25``. Close it with ``close()`` or ``with``."""

    def __init__(self, client: Client[Any], loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self._client = client
        self._loop = loop
        self._thread = thread
        self.api: Any = SyncProxy(self, "", None)

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def call(self, path: str, *params: Any, timeout: float | None = None, idempotent: bool = False) -> Any:
        """Calls `path` and returns its result (see ``Client.call``)."""
        return self._run(self._client.call(path, *params, timeout=timeout, idempotent=idempotent))

    def notify(self, path: str, *params: Any) -> None:
        """Sends a notification and waits until it is written."""

        async def send() -> None:
            await self._client.notify(path, *params)

        self._run(send())

    def with_timeout(self, timeout: float) -> Any:
        return SyncProxy(self, "", timeout)

    def stream(self, path: str, *params: Any, window: int = 32) -> Iterator[Any]:
        """The items `path` answers with, as they come; leaving the loop
        cancels the stream."""
        items = self._client.stream(path, *params, window=window).__aiter__()
        try:
            while True:
                try:
                    yield self._run(_next(items))
                except StopAsyncIteration:
                    return
        finally:
            self._run(_close(items))

    def handle(self, path: str, handler: Callable[..., Any]) -> None:
        """Answers the server's calls of `path`; `handler` runs on the
        client's thread."""
        self._loop.call_soon_threadsafe(self._client.handle, path, handler)

    def on(self, path: str, listener: Callable[..., Any]) -> Callable[[], None]:
        """Calls `listener` for each notification of `path`, on the client's
        thread; returns a function that stops it."""

        async def subscribe() -> Callable[[], None]:
            return self._client.on(path, listener)

        stop = self._run(subscribe())

        def stop_listening() -> None:
            self._loop.call_soon_threadsafe(stop)

        return stop_listening

    def close(self) -> None:
        if self._thread.is_alive():
            self._run(self._client.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


async def _next(items: Any) -> Any:
    return await items.__anext__()


async def _close(items: Any) -> None:
    await items.aclose()


def connect_sync(
    url: str,
    *,
    timeout: float = 10.0,
    reconnect: bool | Reconnect = False,
    on_status: Callable[[Status, str | None], None] | None = None,
) -> SyncClient:
    """``connect``, for code without an event loop: the client runs on a
    thread of its own, and its calls block."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="dotrpc-client", daemon=True)
    thread.start()
    ready.wait()
    try:
        client = asyncio.run_coroutine_threadsafe(
            connect(url, timeout=timeout, reconnect=reconnect, on_status=on_status), loop
        ).result()
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        raise
    return SyncClient(client, loop, thread)
