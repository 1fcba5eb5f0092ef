"""chatbili_site.socket_accepts: a server process takes one pending connection per wake-up, so that
processes sharing a listening socket share its connections."""

from __future__ import annotations

import asyncio
import socket

from twisted.internet import protocol
from twisted.internet.asyncioreactor import AsyncioSelectorReactor

from chatbili_site import socket_accepts

socket_accepts.install()


class Counted(protocol.Factory):
    def __init__(self) -> None:
        self.built = 0

    def buildProtocol(self, addr: object) -> protocol.Protocol:
        self.built += 1
        return protocol.Protocol()


async def test_a_wake_up_accepts_one_of_the_pending_connections() -> None:
    reactor = AsyncioSelectorReactor(asyncio.get_running_loop())
    factory = Counted()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    clients = [socket.create_connection(("127.0.0.1", port.getHost().port)) for _ in range(5)]
    try:
        port.doRead()  # what the reactor calls when the socket is readable: five are waiting
        first = factory.built
        port.doRead()

        assert (first, factory.built) == (1, 2)
    finally:
        for client in clients:
            client.close()
        await port.stopListening().asFuture(asyncio.get_running_loop())


def test_installing_twice_keeps_one_accept_per_wake_up() -> None:
    socket_accepts.install()

    assert socket_accepts.installed()


def test_the_site_installs_it() -> None:
    import chatbili_site.asgi  # noqa: F401  (what daphne loads)

    assert socket_accepts.installed()
