"""The cases, one module per part of PROTOCOL.md; importing this package
registers them all, in the order of the specification."""

from . import framing, calls, events, hello, metadata, cancel, errors, streams, inputs, describe, nats  # noqa: F401
