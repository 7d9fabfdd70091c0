"""The dotrpc conformance suite: checks a server against PROTOCOL.md, case
by case, over plain sockets and the `msgpack` package, the way a peer in any
language sees it.

    python run.py tcp://127.0.0.1:4000
    python run.py ws://127.0.0.1:4000/rpc
    python run.py nats://127.0.0.1:4222/demo

The server under test serves the conformance API (PROTOCOL.md, "The
conformance API"); the repository's demo server does. One line per case,
`ok` or `FAIL`, with the section of PROTOCOL.md it checks; then
`conformance: N passed, M failed`. Exit status 1 if any case failed.
"""

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import suite  # noqa: E402
import cases  # noqa: E402,F401  (registers every case)

if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(0 if asyncio.run(suite.main(sys.argv[1])) else 1)
