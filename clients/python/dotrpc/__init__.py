"""A Python client for dotrpc servers (and any msgpack-rpc peer).

    import dotrpc

    async with await dotrpc.connect("tcp://127.0.0.1:4000") as client:
        print(await client.api.math.stats.mean([1, 2, 6]))
        async for i in client.stream("count", 5, 0):
            print(i)

Nested proxies call dot-joined paths; streams follow dotrpc's credit rules;
the server may call handlers the client serves and send it events. For
scripts, ``dotrpc.connect_sync`` gives a client whose calls block. Typed
proxies come from ``dotrpc describe ADDR --python``.
"""

from ._client import Client, Proxy, Reconnect, Status, connect
from ._errors import Cancelled, Disconnected, NoResponders, RpcError, Timeout
from ._streams import Conversation, ItemStream, Upload
from ._sync import SyncClient, connect_sync

__all__ = [
    "Cancelled",
    "Client",
    "Conversation",
    "Disconnected",
    "ItemStream",
    "NoResponders",
    "Proxy",
    "Reconnect",
    "RpcError",
    "Status",
    "SyncClient",
    "Timeout",
    "Upload",
    "connect",
    "connect_sync",
]
