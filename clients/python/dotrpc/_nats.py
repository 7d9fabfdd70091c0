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

Streams over NATS (§13.5) are not mapped by this client yet: a stream call
fails at once, saying so.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack

from ._links import Link, pack

_HEADERS = {"deadline_ms": "Dotrpc-Deadline-Ms", "traceparent": "traceparent", "tracestate": "tracestate"}


class NatsLink(Link):
    def __init__(self, nc: Any, prefix: str) -> None:
        self._nc = nc
        self._prefix = prefix
        self._inbox = nc.new_inbox()
        self._arrived: asyncio.Queue[Any] = asyncio.Queue()
        self._listening: dict[str, Any] = {}

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
        return link

    async def _reply(self, msg: Any) -> None:
        token = msg.subject.rsplit(".", 1)[-1]
        if not token.isdigit():
            return
        msgid = int(token)
        headers = msg.headers or {}
        if headers.get("Status") == "503":
            error = {"code": "NoResponders", "message": "no instance serves this path on NATS"}
            self._arrived.put_nowait([1, msgid, error, None])
            return
        try:
            body = msgpack.unpackb(msg.data, raw=False, strict_map_key=False) if msg.data else None
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
            error = {"code": "Internal", "message": "the reply is not one msgpack value"}
            self._arrived.put_nowait([1, msgid, error, None])
            return
        if "Nats-Service-Error-Code" in headers:
            self._arrived.put_nowait([1, msgid, body, None])
        else:
            self._arrived.put_nowait([1, msgid, None, body])

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

        asyncio.get_running_loop().create_task(subscribe())

    async def send(self, message: list[Any]) -> None:
        kind = message[0]
        if kind == 2 and message[1] == "rpc.hello":
            # Answered here: instances read a deadline header, and a cancel
            # has nowhere to go.
            self._arrived.put_nowait([2, "rpc.hello", [{"dotrpc": 1, "features": ["deadline"]}]])
            return
        if kind == 2 and str(message[1]).startswith("rpc."):
            return
        if kind == 2:
            await self._nc.publish(f"{self._prefix}.{message[1]}", pack(message[2]))
            return
        if kind == 0:
            msgid, path, params = message[1], message[2], message[3]
            meta = message[4] if len(message) > 4 and isinstance(message[4], dict) else {}
            if "credit" in meta:
                error = {"code": "InvalidParams", "message": f"{path}: the Python client does not stream over NATS yet"}
                self._arrived.put_nowait([1, msgid, error, None])
                return
            headers = {_HEADERS[k]: str(v) for k, v in meta.items() if k in _HEADERS}
            await self._nc.publish(
                f"{self._prefix}.{path}",
                pack(params),
                reply=f"{self._inbox}.{msgid}",
                headers=headers or None,
            )
            return
        # A response: the server does not call a client over NATS.

    async def receive(self) -> Any:
        arrived = await self._arrived.get()
        if isinstance(arrived, Exception):
            raise arrived
        return arrived

    async def close(self) -> None:
        if not self._nc.is_closed:
            await self._nc.close()
