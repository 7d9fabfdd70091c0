"""NATS as a link (PROTOCOL.md §13): a service's instances behind a subject
prefix ``P``, reached as ``nats://host:port/P``.

The client's messages are mapped to NATS and back, so the client itself
does not know it is on NATS: a request for ``a.b`` is a NATS request on
``P.a.b`` whose reply subject is an inbox of the link's and the msgid
(``INBOX.<msgid>``), its body the params; the reply (a result, or an error
with ``Nats-Service-Error-Code``) becomes the response; the broker's "no
responders" status becomes ``NoResponders`` at once. Metadata travels as
headers. Events the service publishes (``Dotrpc-Push: 1``) on a path the
client listens to become notifications. The link answers the hello itself:
over NATS a deadline is a header every instance reads, and there is no
cancel to send.

Streams (§13.5) travel between the call's reply subject and a subject the
instance that took the call names in each message it sends; credit goes
as running totals and items are numbered, since core NATS delivers at most
once: an item lost on the way reaches the stream as lag, and its room is
granted again. Both sides ping each stream every few seconds; two "no
responders" to the caller's pings end it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack

from ._links import Link, pack

_HEADERS = {"deadline_ms": "Dotrpc-Deadline-Ms", "traceparent": "traceparent", "tracestate": "tracestate"}
# How often the caller pings the streams it has open.
PING_EVERY = 5.0


class _Stream:
    """A stream call's side of the mapping."""

    def __init__(self, credit: int) -> None:
        self.instance: str | None = None
        # Totals, as they travel: answer credit granted, input items sent.
        self.credit = credit
        self.inputs = 0
        self.input_credit = 0
        self.last_item = 0
        self.unanswered_pings = 0
        # Sent before the instance said where it is.
        self.waiting: list[tuple[str, Any]] = []


class NatsLink(Link):
    def __init__(self, nc: Any, prefix: str) -> None:
        self._nc = nc
        self._prefix = prefix
        self._inbox = nc.new_inbox()
        self._arrived: asyncio.Queue[Any] = asyncio.Queue()
        self._listening: dict[str, Any] = {}
        self._streams: dict[int, _Stream] = {}
        self._pinger: asyncio.Task[None] | None = None
        # Subscriptions for events asked for and not yet in place.
        self._subscribing: set[asyncio.Task[None]] = set()

    @classmethod
    async def connect(cls, servers: list[str], prefix: str) -> NatsLink:
        try:
            import nats
        except ImportError as e:
            raise ImportError("a nats:// address needs the nats-py package: pip install dotrpc[nats]") from e
        link: NatsLink | None = None

        async def closed() -> None:
            if link is not None:
                link._arrived.put_nowait(EOFError("the NATS connection closed"))

        async def error(e: Exception) -> None:
            pass  # nats-py reports and retries on its own; a lost link is `closed`

        nc = await nats.connect(servers=servers, allow_reconnect=False, closed_cb=closed, error_cb=error)
        link = cls(nc, prefix)
        await nc.subscribe(f"{link._inbox}.*", cb=link._reply)
        await nc.flush()
        link._pinger = asyncio.get_running_loop().create_task(link._ping())
        return link

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(PING_EVERY)
            for msgid, stream in list(self._streams.items()):
                if stream.instance is not None:
                    stream.unanswered_pings += 1
                    await self._to_instance(msgid, stream, "ping", [stream.credit, stream.inputs])

    async def _reply(self, msg: Any) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        if not token.isdigit():
            return
        msgid = int(token)
        headers = msg.headers or {}
        stream = self._streams.get(msgid)
        if headers.get("Status") == "503":
            # A stream's instance gone: twice, with nothing heard between.
            if stream is not None and stream.unanswered_pings < 2:
                return
            self._end(msgid, [1, msgid, {"code": "NoResponders", "message": "no instance serves this on NATS"}, None])
            return
        try:
            body = msgpack.unpackb(msg.data, raw=False, strict_map_key=False) if msg.data else None
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            self._end(msgid, [1, msgid, {"code": "Internal", "message": "a reply that is not one msgpack value"}, None])
            return
        kind = headers.get("Dotrpc-Stream")
        if kind is not None:
            if stream is not None:
                await self._streamed(msgid, stream, kind, msg.reply, body)
            return
        if stream is not None:
            sent = headers.get("Dotrpc-Items", "")
            if sent.isdigit() and int(sent) > stream.last_item:
                # The last items were lost on the way.
                self._arrived.put_nowait([2, "rpc.lagged", [msgid, int(sent) - stream.last_item]])
        if "Nats-Service-Error-Code" in headers:
            self._end(msgid, [1, msgid, body, None])
        else:
            self._end(msgid, [1, msgid, None, body])

    def _end(self, msgid: int, response: list[Any]) -> None:
        self._streams.pop(msgid, None)
        self._arrived.put_nowait(response)

    async def _streamed(self, msgid: int, stream: _Stream, kind: str, instance: str | None, body: Any) -> None:
        """A stream message from the instance, as the client's notification."""
        stream.unanswered_pings = 0
        if instance and stream.instance is None:
            stream.instance = instance
            for waiting_kind, waiting_body in stream.waiting:
                await self._to_instance(msgid, stream, waiting_kind, waiting_body)
            stream.waiting.clear()
        if kind == "item" and isinstance(body, list) and len(body) == 2 and isinstance(body[0], int):
            seq, item = body
            if seq > stream.last_item + 1:
                lost = seq - stream.last_item - 1
                self._arrived.put_nowait([2, "rpc.lagged", [msgid, lost]])
                # Their room was used and will never be taken: grant it again.
                stream.credit += lost
                await self._to_instance(msgid, stream, "credit", stream.credit)
            stream.last_item = max(stream.last_item, seq)
            self._arrived.put_nowait([2, "rpc.item", [msgid, item]])
        elif kind == "lagged" and isinstance(body, int):
            self._arrived.put_nowait([2, "rpc.lagged", [msgid, body]])
        elif kind in ("input_credit", "ping"):
            total = body if kind == "input_credit" else (body[0] if isinstance(body, list) and body else None)
            if isinstance(total, int) and total > stream.input_credit:
                self._arrived.put_nowait([2, "rpc.input_credit", [msgid, total - stream.input_credit]])
                stream.input_credit = total

    async def _to_instance(self, msgid: int, stream: _Stream, kind: str, body: Any) -> None:
        if stream.instance is None:
            stream.waiting.append((kind, body))
            return
        await self._nc.publish(
            stream.instance,
            b"" if body is None else pack(body),
            reply=f"{self._inbox}.{msgid}",
            headers={"Dotrpc-Stream": kind},
        )

    def listen(self, path: str) -> None:
        """Takes the events the service publishes on `path`."""
        if path in self._listening:
            return
        self._listening[path] = None

        async def event(msg: Any) -> None:
            if (msg.headers or {}).get("Dotrpc-Push") != "1":
                return  # another caller's call, not an event
            try:
                params = msgpack.unpackb(msg.data, raw=False, strict_map_key=False) if msg.data else []
            except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
                return
            if isinstance(params, list):
                self._arrived.put_nowait([2, path, params])

        async def subscribe() -> None:
            self._listening[path] = await self._nc.subscribe(f"{self._prefix}.{path}", cb=event)
            await self._nc.flush()

        task = asyncio.get_running_loop().create_task(subscribe())
        self._subscribing.add(task)
        task.add_done_callback(self._subscribing.discard)

    async def listening(self) -> None:
        """Waits until the NATS server has every subscription `listen`
        asked for: an event published before would not reach this client."""
        await asyncio.gather(*self._subscribing)

    async def send(self, message: list[Any]) -> None:
        kind = message[0]
        if kind == 2 and message[1] == "rpc.hello":
            # Answered here: instances read a deadline header, and a cancel
            # has nowhere to go.
            self._arrived.put_nowait([2, "rpc.hello", [{"dotrpc": 1, "features": ["deadline"]}]])
            return
        if kind == 2 and str(message[1]).startswith("rpc."):
            await self._control(message[1], message[2])
            return
        if kind == 2:
            await self._nc.publish(f"{self._prefix}.{message[1]}", pack(message[2]))
            return
        if kind == 0:
            msgid, path, params = message[1], message[2], message[3]
            meta = message[4] if len(message) > 4 and isinstance(message[4], dict) else {}
            headers = {_HEADERS[k]: str(v) for k, v in meta.items() if k in _HEADERS}
            if "credit" in meta:
                headers["Dotrpc-Credit"] = str(meta["credit"])
                self._streams[msgid] = _Stream(meta["credit"])
            await self._nc.publish(
                f"{self._prefix}.{path}",
                pack(params),
                reply=f"{self._inbox}.{msgid}",
                headers=headers or None,
            )
            return
        # A response: the server does not call a client over NATS.

    async def _control(self, path: str, params: Any) -> None:
        """The client's stream messages, to the instance that took the call."""
        if not isinstance(params, list) or not params or not isinstance(params[0], int):
            return
        msgid = params[0]
        stream = self._streams.get(msgid)
        if stream is None:
            return
        if path == "rpc.credit" and len(params) == 2 and isinstance(params[1], int):
            stream.credit += params[1]
            await self._to_instance(msgid, stream, "credit", stream.credit)
        elif path == "rpc.input" and len(params) == 2:
            stream.inputs += 1
            await self._to_instance(msgid, stream, "input", [stream.inputs, params[1]])
        elif path == "rpc.input_end":
            await self._to_instance(msgid, stream, "input_end", stream.inputs)
        elif path == "rpc.cancel":
            await self._to_instance(msgid, stream, "cancel", None)
            self._streams.pop(msgid, None)

    async def receive(self) -> Any:
        arrived = await self._arrived.get()
        if isinstance(arrived, Exception):
            raise arrived
        return arrived

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
        if not self._nc.is_closed:
            await self._nc.close()
