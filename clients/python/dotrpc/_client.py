"""The client: one connection (redialled if asked), the calls waiting on
it, the streams open on it, and the handlers and listeners that take what
the server sends.

Everything runs on the event loop the client was made on. One task reads
and dispatches each message as it comes; one task writes, from a queue, so
that anything (a listener, a stream left mid-way) can send without
waiting. A call waits for its answer with its timeout; a timed-out call
tells the server (``rpc.cancel``) if the server said it listens (the
hello, PROTOCOL.md §6).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ._errors import Disconnected, RpcError, Timeout
from ._links import Link, ProtocolError, open_link
from ._streams import Conversation, ItemStream, StreamState, Upload

REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2
# What this client takes from a server that says it listens (§6).
FEATURES = ["cancel", "deadline", "trace"]

Api = TypeVar("Api")

Status = str
"""``"connecting"``, ``"connected"``, ``"disconnected"``, ``"reconnecting"``
or ``"gave_up"``."""


@dataclass(frozen=True)
class Reconnect:
    """How a lost connection is dialled again: up to `attempts` times,
    waiting `initial` seconds first and twice as long each time after, up to
    `maximum`, with some jitter."""

    attempts: int = 10
    initial: float = 0.1
    maximum: float = 2.0


@dataclass
class _Pending:
    future: asyncio.Future[Any]
    message: list[Any]
    idempotent: bool
    # Times sent: an idempotent call is sent again after a reconnect, at
    # most three times in all.
    sent: int = 0


class Proxy:
    """A namespace or method of the API: ``client.api.math.stats`` is one,
    and calling it (``await client.api.math.stats.mean([1, 2])``) calls
    ``"math.stats.mean"``. ``.notify(...)`` sends it as a notification."""

    __slots__ = ("_client", "_path", "_timeout")

    def __init__(self, client: Client[Any], path: str, timeout: float | None) -> None:
        self._client = client
        self._path = path
        self._timeout = timeout

    def __getattr__(self, name: str) -> Proxy:
        if name.startswith("__"):
            raise AttributeError(name)
        path = f"{self._path}.{name}" if self._path else name
        return Proxy(self._client, path, self._timeout)

    def __call__(self, *params: Any) -> Awaitable[Any]:
        return self._client.call(self._path, *params, timeout=self._timeout)

    def notify(self, *params: Any) -> asyncio.Future[None]:
        return self._client.notify(self._path, *params)

    def __repr__(self) -> str:
        return f"<dotrpc proxy {self._path or '(root)'}>"


class Client(Generic[Api]):
    """A connection to a dotrpc server (or any msgpack-rpc peer); made by
    ``await dotrpc.connect(url)``, closed by ``await client.close()`` or
    ``async with``.

    ``client.api`` is the API as nested proxies; annotate the client as
    ``dotrpc.Client[DemoApi]`` with a module from ``dotrpc describe ADDR
    --python`` and a type checker knows every method.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        reconnect: bool | Reconnect = False,
        on_status: Callable[[Status, str | None], None] | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._reconnect = Reconnect() if reconnect is True else (reconnect or None)
        self._on_status = on_status
        self._loop = asyncio.get_running_loop()
        self._link: Link | None = None
        self._outgoing: asyncio.Queue[tuple[list[Any], asyncio.Future[None] | None]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        # Links being closed: let finish, not cancelled, when the client closes.
        self._closers: set[asyncio.Task[Any]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, _Pending] = {}
        self._streams: dict[int, StreamState] = {}
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._handling: dict[int, asyncio.Task[None]] = {}
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._features: frozenset[str] = frozenset()
        self._connected = asyncio.Event()
        self._closed = False
        self._gave_up: str | None = None
        self.api: Api = Proxy(self, "", None)  # type: ignore[assignment]

    # -- connecting ------------------------------------------------------

    async def _open(self) -> None:
        self._status("connecting", None)
        try:
            link = await asyncio.wait_for(open_link(self.url), self.timeout)
        except TimeoutError as e:
            raise Timeout(f"no connection to {self.url} within {self.timeout} s") from e
        except OSError as e:
            raise Disconnected(f"cannot connect to {self.url}: {e}") from e
        self._attach(link)
        self._status("connected", None)

    def _attach(self, link: Link) -> None:
        self._link = link
        self._features = frozenset()
        self._outgoing = asyncio.Queue()
        # The hello goes first; the server answers with what it takes.
        self._outgoing.put_nowait(([NOTIFICATION, "rpc.hello", [{"dotrpc": 1, "features": FEATURES}]], None))
        if hasattr(link, "listen"):
            for path in self._listeners:
                link.listen(path)
        self._reader = self._spawn(self._read(link))
        self._writer = self._spawn(self._write(link))
        self._connected.set()
        for msgid, pending in list(self._pending.items()):
            if pending.idempotent and not pending.future.done():
                pending.sent += 1
                self._post(pending.message)

    def _spawn(self, work: Any) -> asyncio.Task[Any]:
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _status(self, status: Status, reason: str | None) -> None:
        if self._on_status is not None:
            try:
                self._on_status(status, reason)
            except Exception:  # a status callback cannot break the client
                pass

    async def _read(self, link: Link) -> None:
        reason = "the server closed the connection"
        try:
            while True:
                message = await link.receive()
                problem = self._dispatch(message)
                if problem is not None:
                    reason = f"the server broke the protocol: {problem}"
                    break
        except EOFError as e:
            reason = str(e)
        except ProtocolError as e:
            reason = f"the server broke the protocol: {e}"
        except (OSError, ConnectionError) as e:
            reason = f"the connection failed: {e}"
        except asyncio.CancelledError:
            return
        self._lost(link, reason)

    async def _write(self, link: Link) -> None:
        try:
            while True:
                message, sent = await self._outgoing.get()
                try:
                    await link.send(message)
                except (TypeError, ValueError, OverflowError) as e:
                    # A value msgpack cannot write: only its own call fails.
                    self._unwritable(message, sent, e)
                    continue
                if sent is not None and not sent.done():
                    sent.set_result(None)
        except asyncio.CancelledError:
            return
        except (OSError, ConnectionError, EOFError) as e:
            self._lost(link, f"the connection failed: {e}")

    def _unwritable(self, message: list[Any], sent: asyncio.Future[None] | None, error: Exception) -> None:
        problem = RpcError("InvalidParams", f"{message[2] if message[0] == REQUEST else message[1]}: cannot encode: {error}")
        if message[0] == REQUEST:
            self._fail(message[1], problem)
            stream = self._streams.pop(message[1], None)
            if stream is not None:
                stream.finish(problem)
        elif message[0] == RESPONSE:
            self._post([RESPONSE, message[1], {"code": "Internal", "message": str(problem.message)}, None])
        if sent is not None and not sent.done():
            sent.set_exception(problem)

    def _post(self, message: list[Any], sent: asyncio.Future[None] | None = None) -> None:
        link = self._link
        if link is not None and link.writes_at_once and self._outgoing.empty():
            # Straight into the socket's buffer: no hand-off to the writer.
            try:
                link.write(message)
            except (TypeError, ValueError, OverflowError) as e:
                self._unwritable(message, sent, e)
                return
            except (OSError, ConnectionError) as e:
                self._lost(link, f"the connection failed: {e}")
                return
            if sent is not None and not sent.done():
                sent.set_result(None)
            return
        self._outgoing.put_nowait((message, sent))

    def _lost(self, link: Link, reason: str) -> None:
        """The link is gone: ends what depended on it, and redials if asked."""
        if link is not self._link:
            return
        self._link = None
        self._connected.clear()
        for task in (self._reader, self._writer):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self._closers.add(self._spawn(link.close()))
        while not self._outgoing.empty():
            _, sent = self._outgoing.get_nowait()
            if sent is not None and not sent.done():
                sent.set_exception(Disconnected(f"disconnected: {reason}"))
        for stream in list(self._streams.values()):
            stream.finish(Disconnected(f"disconnected: {reason}"))
        self._streams.clear()
        for task in self._handling.values():
            task.cancel()
        redial = self._reconnect is not None and not self._closed
        for msgid, pending in list(self._pending.items()):
            if not (redial and pending.idempotent and pending.sent < 3):
                self._fail(msgid, Disconnected(f"disconnected: {reason}"))
        self._status("disconnected", reason)
        if redial:
            self._spawn(self._redial(reason))
        else:
            self._give_up(reason)

    async def _redial(self, reason: str) -> None:
        policy = self._reconnect
        assert policy is not None
        wait = policy.initial
        for _ in range(policy.attempts):
            self._status("reconnecting", reason)
            await asyncio.sleep(wait * (0.5 + random.random() / 2))
            wait = min(wait * 2, policy.maximum)
            if self._closed:
                return
            try:
                link = await asyncio.wait_for(open_link(self.url), self.timeout)
            except (OSError, TimeoutError) as e:
                reason = f"cannot connect to {self.url}: {e}"
                continue
            self._attach(link)
            self._status("connected", None)
            return
        self._status("gave_up", reason)
        self._give_up(reason)

    def _give_up(self, reason: str) -> None:
        self._gave_up = reason
        for msgid in list(self._pending):
            self._fail(msgid, Disconnected(f"disconnected: {reason}"))

    def _fail(self, msgid: int, error: RpcError) -> None:
        pending = self._pending.pop(msgid, None)
        if pending is not None and not pending.future.done():
            pending.future.set_exception(error)

    async def _ready(self, timeout: float | None) -> None:
        """Waits for a connection (while one is redialled)."""
        if self._connected.is_set():
            return
        if self._closed or self._gave_up is not None:
            raise Disconnected(f"not connected: {self._gave_up or 'the client is closed'}")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError as e:
            raise Timeout(f"not connected within {timeout} s") from e

    # -- what the server sends --------------------------------------------

    def _dispatch(self, message: Any) -> str | None:
        """Takes one message; says what is wrong with it if it breaks the
        protocol (the connection then ends, §3)."""
        if not isinstance(message, list) or not message or not isinstance(message[0], int):
            return f"{message!r} is not a msgpack-rpc message"
        kind = message[0]
        if kind == RESPONSE:
            if len(message) != 4 or not _is_msgid(message[1]):
                return f"a response of the wrong shape: {message!r}"
            self._answered(message[1], message[2], message[3])
        elif kind == NOTIFICATION:
            if len(message) != 3 or not isinstance(message[1], str):
                return f"a notification of the wrong shape: {message!r}"
            if isinstance(message[2], list):
                self._notified(message[1], message[2])
        elif kind == REQUEST:
            if len(message) not in (4, 5) or not _is_msgid(message[1]) or not isinstance(message[2], str):
                return f"a request of the wrong shape: {message!r}"
            self._requested(message[1], message[2], message[3])
        else:
            return f"a message of kind {kind}"
        return None

    def _answered(self, msgid: int, error: Any, result: Any) -> None:
        stream = self._streams.pop(msgid, None)
        if stream is not None:
            stream.finish(None if error is None else RpcError.from_wire(error), result)
            return
        pending = self._pending.pop(msgid, None)
        if pending is None or pending.future.done():
            return  # late, or never asked for (§4.3)
        if error is None:
            pending.future.set_result(result)
        else:
            pending.future.set_exception(RpcError.from_wire(error))

    def _notified(self, path: str, params: list[Any]) -> None:
        if path.startswith("rpc."):
            self._control(path, params)
            return
        for listener in list(self._listeners.get(path, ())):
            try:
                outcome = listener(*params)
            except Exception:
                continue  # a listener's failure is its own
            if inspect.isawaitable(outcome):
                self._spawn(_quietly(outcome))

    def _control(self, path: str, params: list[Any]) -> None:
        if path == "rpc.hello":
            hello = params[0] if params else None
            if isinstance(hello, dict) and isinstance(hello.get("features"), list):
                self._features = frozenset(f for f in hello["features"] if isinstance(f, str))
            return
        if path == "rpc.cancel":
            if params and _is_msgid(params[0]) and params[0] in self._handling:
                self._handling.pop(params[0]).cancel()
            return
        if not params or not _is_msgid(params[0]):
            return
        stream = self._streams.get(params[0])
        if stream is None:
            return  # late, after a cancel (§11.2)
        problem = stream.control(path, params[1:])
        if problem is not None:
            self._streams.pop(params[0], None)
            self._post([NOTIFICATION, "rpc.cancel", [params[0]]])
            stream.finish(RpcError("Codec", problem))

    def _requested(self, msgid: int, path: str, params: Any) -> None:
        handler = self._handlers.get(path)
        if not isinstance(params, list):
            self._post([RESPONSE, msgid, {"code": "InvalidParams", "message": f"{path}: params must be an array"}, None])
            return
        if handler is None:
            error = {"code": "UnknownApi", "message": f"no handler for `{path}` on this client"}
            self._post([RESPONSE, msgid, error, None])
            return
        self._handling[msgid] = self._spawn(self._handle(msgid, path, handler, params))

    async def _handle(self, msgid: int, path: str, handler: Callable[..., Any], params: list[Any]) -> None:
        try:
            try:
                inspect.signature(handler).bind(*params)
            except TypeError as e:
                raise RpcError("InvalidParams", f"{path}: {e}") from e
            except ValueError:
                pass  # a callable without a signature: call it and see
            result = handler(*params)
            if inspect.isawaitable(result):
                result = await result
            reply: list[Any] = [RESPONSE, msgid, None, result]
        except asyncio.CancelledError:
            return  # cancelled by the server, or the connection is gone
        except RpcError as e:
            reply = [RESPONSE, msgid, e.to_wire(), None]
        except Exception as e:
            reply = [RESPONSE, msgid, {"code": "Internal", "message": f"the handler failed: {e!r}"}, None]
        finally:
            self._handling.pop(msgid, None)
        self._post(reply)

    # -- calling ----------------------------------------------------------

    def _msgid(self) -> int:
        while True:
            msgid = next(self._ids) % (1 << 32)
            if msgid and msgid not in self._pending and msgid not in self._streams:
                return msgid

    def _metadata(self, timeout: float | None, credit: int | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        if timeout is not None and "deadline" in self._features:
            meta["deadline_ms"] = max(1, int(timeout * 1000))
        if "trace" in self._features:
            meta.update(_trace_context())
        if credit is not None:
            meta["credit"] = credit
        return meta

    async def call(self, path: str, *params: Any, timeout: float | None = None, idempotent: bool = False) -> Any:
        """Calls `path` with `params` and returns its result, or raises the
        error it answered with (`RpcError`), `Timeout` when `timeout`
        (the client's unless given) passes first, `Disconnected` when the
        connection is lost. An `idempotent` call is sent again after a
        reconnect."""
        timeout = self.timeout if timeout is None else timeout
        await self._ready(timeout)
        msgid = self._msgid()
        message: list[Any] = [REQUEST, msgid, path, list(params)]
        meta = self._metadata(timeout)
        if meta:
            message.append(meta)
        future: asyncio.Future[Any] = self._loop.create_future()
        self._pending[msgid] = _Pending(future, message, idempotent, sent=1)
        self._post(message)
        timer = self._loop.call_later(timeout, self._time_out, msgid, path, timeout)
        try:
            return await future
        except asyncio.CancelledError:
            self._give_up_on(msgid)
            raise
        finally:
            timer.cancel()

    def _time_out(self, msgid: int, path: str, timeout: float) -> None:
        pending = self._pending.get(msgid)
        self._give_up_on(msgid)
        if pending is not None and not pending.future.done():
            pending.future.set_exception(Timeout(f"{path} timed out after {timeout} s"))

    def _give_up_on(self, msgid: int) -> None:
        if self._pending.pop(msgid, None) is not None and "cancel" in self._features and self._link is not None:
            self._post([NOTIFICATION, "rpc.cancel", [msgid]])

    def notify(self, path: str, *params: Any) -> asyncio.Future[None]:
        """Sends `path` a notification; nothing is answered. It is queued at
        once; await the result to wait until it is written."""
        sent: asyncio.Future[None] = self._loop.create_future()
        if self._link is None:
            sent.set_exception(Disconnected(f"not connected: {self._gave_up or 'the connection is down'}"))
            sent.exception()  # a notification nobody awaits fails quietly
            return sent
        self._post([NOTIFICATION, path, list(params)], sent)
        return sent

    def with_timeout(self, timeout: float) -> Any:
        """The API's proxies, whose calls time out after `timeout` seconds:
        ``client.with_timeout(0.5).math.div(1, 0)``."""
        return Proxy(self, "", timeout)

    # -- streams ----------------------------------------------------------

    def _open_stream(self, path: str, params: tuple[Any, ...], window: int | None, timeout: float | None) -> StreamState:
        if self._link is None:
            raise Disconnected(f"not connected: {self._gave_up or 'the connection is down'}")
        msgid = self._msgid()
        stream = StreamState(self, msgid, path, window)
        self._streams[msgid] = stream
        self._post([REQUEST, msgid, path, list(params), self._metadata(timeout, window or 0)])
        return stream

    def stream(self, path: str, *params: Any, window: int = 32, timeout: float | None = None) -> ItemStream:
        """The items `path` answers with: ``async for x in
        client.stream("count", 5, 0)``. The server sends at most `window`
        items ahead of those taken; leaving the loop cancels the stream."""
        return ItemStream(lambda: self._open_stream(path, params, window, timeout))

    def upload(self, path: str, *params: Any, timeout: float | None = None) -> Upload:
        """A call that takes a stream of items: ``async with
        client.upload("sum") as up: await up.send(1)``, then ``await
        up.result()``."""
        return Upload(lambda: self._open_stream(path, params, None, timeout))

    def conversation(self, path: str, *params: Any, window: int = 32, timeout: float | None = None) -> Conversation:
        """A call that streams both ways: items sent with ``send``, items
        answered by iterating it."""
        return Conversation(lambda: self._open_stream(path, params, window, timeout))

    # -- what the server may call or send ---------------------------------

    def handle(self, path: str, handler: Callable[..., Any]) -> None:
        """Answers the server's calls of `path` with `handler(*params)`
        (sync or async). Raise `RpcError` to answer with that error."""
        self._handlers[path] = handler

    def serve(self, handlers: Mapping[str, Any], prefix: str = "") -> None:
        """Handlers by nested namespace: ``client.serve({"client": {"name":
        lambda: "notebook"}})`` handles ``"client.name"``."""
        for name, value in handlers.items():
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(value, Mapping):
                self.serve(value, path)
            else:
                self.handle(path, value)

    def on(self, path: str, listener: Callable[..., Any]) -> Callable[[], None]:
        """Calls `listener(*params)` for each notification of `path` the
        server sends; returns a function that stops it."""
        self._listeners.setdefault(path, []).append(listener)
        link = self._link
        if link is not None and hasattr(link, "listen"):
            link.listen(path)

        def stop() -> None:
            listeners = self._listeners.get(path, [])
            if listener in listeners:
                listeners.remove(listener)

        return stop

    async def listening(self) -> None:
        """Waits until the events asked for with `on` or `events` can
        arrive. Over NATS a listener is a subscription, in place a round trip
        later (an event published before it is lost); elsewhere at once."""
        link = self._link
        if link is not None and hasattr(link, "listening"):
            await link.listening()

    async def events(self, path: str, *, limit: int = 1024) -> AsyncIterator[list[Any]]:
        """The params of each notification of `path`, as they come. At most
        `limit` wait to be taken; older ones are dropped past it."""
        queue: asyncio.Queue[list[Any]] = asyncio.Queue()

        def take(*params: Any) -> None:
            if queue.qsize() >= limit:
                queue.get_nowait()
            queue.put_nowait(list(params))

        stop = self.on(path, take)
        try:
            while True:
                yield await queue.get()
        finally:
            stop()

    # -- closing ----------------------------------------------------------

    async def close(self) -> None:
        """Closes the connection; calls still waiting fail with
        `Disconnected`."""
        if self._closed:
            return
        self._closed = True
        link = self._link
        if link is not None:
            # What is queued goes first (a last notification, say).
            try:
                await asyncio.wait_for(self._drain(), 1.0)
            except TimeoutError:
                pass
            self._lost(link, "the client is closed")
        self._give_up("the client is closed")
        for task in list(self._tasks):
            if task not in self._closers:
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> None:
        while not self._outgoing.empty():
            await asyncio.sleep(0.001)

    @property
    def is_closed(self) -> bool:
        return self._closed or self._gave_up is not None

    async def __aenter__(self) -> Client[Api]:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


def _is_msgid(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < (1 << 32)


async def _quietly(work: Awaitable[Any]) -> None:
    try:
        await work
    except Exception:
        pass


_PROPAGATE: Any = None


def _trace_context() -> dict[str, str]:
    """The active OpenTelemetry span's context, if the package is there
    (looked for once: a failed import costs more than a call)."""
    global _PROPAGATE
    if _PROPAGATE is None:
        try:
            from opentelemetry import propagate

            _PROPAGATE = propagate
        except ImportError:
            _PROPAGATE = False
    if _PROPAGATE is False:
        return {}
    carrier: dict[str, str] = {}
    _PROPAGATE.inject(carrier)
    return {k: v for k, v in carrier.items() if k in ("traceparent", "tracestate")}


async def connect(
    url: str,
    *,
    timeout: float = 10.0,
    reconnect: bool | Reconnect = False,
    on_status: Callable[[Status, str | None], None] | None = None,
) -> Client[Any]:
    """Connects to a server at `url`: ``tcp://host:port``, ``unix:/path``,
    ``ws://host:port/path`` or ``nats://host:port/prefix``. `timeout` bounds
    the connecting and is every call's unless it sets its own; with
    `reconnect`, a lost connection is dialled again (see `Reconnect`) and
    `on_status` hears each step."""
    client: Client[Any] = Client(url, timeout=timeout, reconnect=reconnect, on_status=on_status)
    await client._open()
    return client


__all__ = ["Client", "Proxy", "Reconnect", "Status", "connect"]
