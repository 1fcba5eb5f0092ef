"""chatbili_site.socket_writes: twisted's server connections send at once, over real sockets on the asyncio reactor."""

from __future__ import annotations

import asyncio
import select
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from twisted.internet import error, protocol, tcp
from twisted.internet.asyncioreactor import AsyncioSelectorReactor
from twisted.python.failure import Failure

from chatbili_site import socket_writes

socket_writes.install()

SMALL_BUFFER = 4096


class ServerSide(protocol.Protocol):
    """Hands its transport to the test and records how the connection ended."""

    def __init__(self, made: asyncio.Future, lost: asyncio.Future) -> None:
        self.made = made
        self.lost = lost

    def connectionMade(self) -> None:
        self.made.set_result(self.transport)

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        self.lost.set_result(reason)


@dataclass
class Connection:
    reactor: AsyncioSelectorReactor
    server: tcp.Server
    client: socket.socket
    lost: asyncio.Future = field(repr=False)


class Producer:
    """A streaming producer like daphne's HTTP channel, which stays registered after the websocket upgrade."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")

    def stopProducing(self) -> None:
        self.calls.append("stop")


async def connect(*, small_buffers: bool = False) -> Connection:
    loop = asyncio.get_running_loop()
    reactor = AsyncioSelectorReactor(loop)
    made, lost = loop.create_future(), loop.create_future()
    factory = protocol.Factory.forProtocol(lambda: ServerSide(made, lost))
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = socket.socket()
    if small_buffers:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
    client.setblocking(False)
    await loop.sock_connect(client, ("127.0.0.1", port.getHost().port))
    server = await made
    await port.stopListening().asFuture(loop)
    if small_buffers:
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
    return Connection(reactor, server, client, lost)


@pytest.fixture
async def connection() -> AsyncIterator[Connection]:
    connected = await connect()
    yield connected
    connected.server.abortConnection()
    connected.client.close()
    await connected.lost


@pytest.fixture
async def small_connection() -> AsyncIterator[Connection]:
    connected = await connect(small_buffers=True)
    yield connected
    connected.server.abortConnection()
    connected.client.close()
    await connected.lost


async def read_exactly(client: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    received = bytearray()
    while len(received) < size:
        chunk = await loop.sock_recv(client, size - len(received))
        assert chunk, f"end of stream after {len(received)} of {size} bytes"
        received += chunk
    return bytes(received)


async def read_to_end(client: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    received = bytearray()
    while chunk := await loop.sock_recv(client, 65536):
        received += chunk
    return bytes(received)


def numbered_chunks(count: int, size: int) -> list[bytes]:
    """Chunks whose bytes say where they belong, so a reordering or a loss shows in the comparison."""
    return [struct.pack(">I", index) * (size // 4) for index in range(count)]


def test_install_twice_keeps_twisteds_write_underneath() -> None:
    socket_writes.install()

    assert tcp.Server.write is socket_writes.fast_write
    assert socket_writes._twisted_write is not socket_writes.fast_write


def test_the_site_installs_it() -> None:
    import chatbili_site.asgi  # noqa: F401 - what daphne imports

    assert socket_writes.installed() is True


async def test_a_write_is_sent_without_registering_the_socket_for_writing(connection: Connection) -> None:
    connection.server.write(b'{"type":"token","text":"hi"}')

    assert connection.reactor.getWriters() == []
    assert await read_exactly(connection.client, 28) == b'{"type":"token","text":"hi"}'


async def test_a_streaming_producer_does_not_stop_the_direct_send(connection: Connection) -> None:
    producer = Producer()
    connection.server.registerProducer(producer, True)

    connection.server.write(b"frame")

    assert connection.reactor.getWriters() == []
    assert await read_exactly(connection.client, 5) == b"frame"
    assert producer.calls == []


async def test_a_pull_producer_keeps_twisteds_path(connection: Connection) -> None:
    producer = Producer()
    connection.server.registerProducer(producer, False)

    connection.server.write(b"frame")

    assert connection.reactor.getWriters() == [connection.server]
    assert await read_exactly(connection.client, 5) == b"frame"


async def test_what_the_kernel_cannot_take_is_buffered_and_delivered_in_order(small_connection: Connection) -> None:
    chunks = numbered_chunks(count=200, size=16384)

    for chunk in chunks:
        small_connection.server.write(chunk)

    assert small_connection.reactor.getWriters() == [small_connection.server]
    assert await read_exactly(small_connection.client, 200 * 16384) == b"".join(chunks)


async def test_the_writer_is_unregistered_once_the_buffer_drains(small_connection: Connection) -> None:
    small_connection.server.write(b"x" * 1_000_000)
    await read_exactly(small_connection.client, 1_000_000)

    small_connection.server.write(b"after")

    assert small_connection.reactor.getWriters() == []
    assert await read_exactly(small_connection.client, 5) == b"after"


async def test_a_full_buffer_pauses_a_streaming_producer_as_before(small_connection: Connection) -> None:
    producer = Producer()
    small_connection.server.registerProducer(producer, True)

    small_connection.server.write(b"x" * 1_000_000)

    assert producer.calls == ["pause"]


async def test_lose_connection_after_writes_delivers_every_byte(small_connection: Connection) -> None:
    chunks = [b"first", *numbered_chunks(count=50, size=16384), b"last"]

    for chunk in chunks:
        small_connection.server.write(chunk)
    small_connection.server.loseConnection()

    assert await read_to_end(small_connection.client) == b"".join(chunks)
    assert (await small_connection.lost).check(error.ConnectionDone) is error.ConnectionDone


async def test_a_write_after_the_peer_reset_reports_the_connection_lost() -> None:
    connected = await connect()
    connected.server.stopReading()  # so the reset is met by the write, not by a read
    connected.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connected.client.close()
    while not select.select([connected.server.socket], [], [], 0.01)[0]:
        await asyncio.sleep(0.01)

    connected.server.write(b"too late")
    reason: Any = await connected.lost

    assert reason.check(error.ConnectionLost) is error.ConnectionLost


async def test_a_write_after_a_buffered_write_sequence_keeps_its_place(connection: Connection) -> None:
    connection.server.writeSequence([b"one ", b"two "])

    connection.server.write(b"three")

    assert await read_exactly(connection.client, 13) == b"one two three"


async def test_a_write_after_abort_connection_sends_nothing() -> None:
    connected = await connect()
    connected.server.abortConnection()

    connected.server.write(b"never")
    await connected.lost

    with pytest.raises(ConnectionResetError):
        await asyncio.get_running_loop().sock_recv(connected.client, 100)
    connected.client.close()
