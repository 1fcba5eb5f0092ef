"""Send each write of daphne's TCP connections at once instead of on the reactor's next turn (issue 12).

twisted's `FileDescriptor.write` only appends to a buffer and registers the socket for writing
(`addWriter`: an epoll_ctl); the next loop turn's `doWrite` sends the bytes and unregisters the
socket (another epoll_ctl). For a websocket that streams a token per frame that is two epoll_ctl
and a loop turn per frame: ~15 % of a busy daphne process. asyncio's own transports instead try
`send()` at once when nothing is buffered and only wait for the socket when the kernel is full;
`install()` gives twisted's server connections (`twisted.internet.tcp.Server`, what daphne
accepts) that same fast path. Anything out of the ordinary (TLS, bytes already buffered, a
pull or paused producer, closing, aborted, not bytes) takes twisted's own path unchanged, so ordering, back
pressure and how a lost connection is reported stay twisted's. A send the kernel only partly
takes buffers the rest the normal way; a send that fails (the peer reset the connection) also
goes to the buffer, so twisted's `doWrite` meets the same error and reports the loss as before.

asgi.py calls `install()`: it changes twisted's class in this process only, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import _newtls, abstract, tcp

_twisted_write: Callable[[Any, bytes], None] | None = None


def _sends_at_once(connection: Any, data: object) -> bool:
    """Whether `data` may go straight to the socket: nothing queued before it, nobody else deciding when to write."""
    return (
        type(data) is bytes
        and connection.connected
        and not connection.TLS
        and not connection.disconnecting
        and not connection._writeDisconnecting
        and not connection._writeDisconnected
        and not connection._aborting
        # daphne's HTTP channel stays the socket's streaming producer after the websocket upgrade: a streaming
        # producer is only paused by a full buffer (the rest of a partial send goes through twisted, which pauses
        # it); a pull producer is asked for more each time the buffer drains, so it keeps twisted's path
        and (connection.producer is None or (connection.streamingProducer and not connection.producerPaused))
        and not connection.dataBuffer
        and not connection._tempDataLen
    )


def fast_write(connection: Any, data: bytes) -> None:
    """`tcp.Server.write` with a direct send when nothing is buffered (see the module docstring)."""
    if data and _sends_at_once(connection, data):
        try:
            sent = connection.socket.send(data)
        except OSError:
            # full (try again when writable) or broken (twisted's doWrite meets the error again and reports the loss)
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    _twisted_write(connection, data)  # type: ignore[misc]


def _twisted_as_read() -> bool:
    """Whether twisted's write and the state it keeps are the ones `fast_write` was written against."""
    kept = ("connected", "disconnecting", "_writeDisconnecting", "_writeDisconnected", "_aborting", "TLS")
    kept += ("producer", "streamingProducer", "producerPaused", "dataBuffer", "offset")
    return (
        tcp.Server.write is _newtls.ConnectionMixin.write
        and all(hasattr(tcp.Server, name) for name in kept)
        and "_tempDataLen" in abstract.FileDescriptor.__init__.__code__.co_names
    )


def install() -> None:
    """Give `twisted.internet.tcp.Server` the fast write; a second call does nothing, nor does a
    twisted whose write path changed (it keeps its own write)."""
    global _twisted_write
    if _twisted_write is not None or not _twisted_as_read():
        return
    _twisted_write = tcp.Server.write
    tcp.Server.write = fast_write


def installed() -> bool:
    return _twisted_write is not None
