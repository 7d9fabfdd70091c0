"""The errors a call fails with: the server's error objects, and the
client's own (a timeout, a lost connection)."""

from __future__ import annotations

from typing import Any


class RpcError(Exception):
    """A call's failure: `code` is stable (``"Application"``,
    ``"UnknownApi"``, ``"InvalidParams"``, ``"Timeout"``, ... the same names as
    Rust's ``ErrorKind``), `message` is for people, `data` is what came with
    it: an application error's value, say.

    A handler the server calls may raise one to answer with that error.
    """

    def __init__(self, code: str, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    @staticmethod
    def from_wire(error: Any) -> RpcError:
        """The error a server answered with, as it came: an error object
        becomes its class by code; anything else (any msgpack-rpc peer may
        answer with any value) is ``"Foreign"``, the value kept in `data`."""
        if (
            isinstance(error, dict)
            and isinstance(error.get("code"), str)
            and isinstance(error.get("message"), str)
        ):
            code, message, data = error["code"], error["message"], error.get("data")
            kind = _BY_CODE.get(code)
            if kind is None:
                return RpcError(code, message, data)
            return kind(message, data)
        return RpcError("Foreign", error if isinstance(error, str) else repr(error), error)

    def to_wire(self) -> dict[str, Any]:
        """The error object this error is answered with."""
        wire: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            wire["data"] = self.data
        return wire


class Timeout(RpcError, TimeoutError):
    """The call's time ran out (here, or at the server's deadline)."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__("Timeout", message, data)


class Disconnected(RpcError, ConnectionError):
    """The connection was lost or closed before the call was answered."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__("Disconnected", message, data)


class NoResponders(RpcError):
    """Nothing serves the path (a NATS server said so at once)."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__("NoResponders", message, data)


class Cancelled(RpcError):
    """The call or stream was cancelled."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__("Cancelled", message, data)


_BY_CODE: dict[str, type[Timeout] | type[Disconnected] | type[NoResponders] | type[Cancelled]] = {
    "Timeout": Timeout,
    "Disconnected": Disconnected,
    "NoResponders": NoResponders,
    "Cancelled": Cancelled,
}
