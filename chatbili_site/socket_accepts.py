"""Each server process accepts one connection per loop turn (issue 12), like nginx's default
(`multi_accept off`).

`runsite --servers N` hands one listening socket to N daphne processes. twisted's `tcp.Port`
accepts up to `numberAccepts` pending connections per wake-up (100, growing by 20 while it
keeps finding that many), so the first process to wake takes a whole burst of handshakes and
the others get few: at 50 sockets on two processes, 32 against 18. With one accept per turn a
busy process comes back to the socket later than an idle one, which takes the next connection.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp


def _one_per_turn(port: Any) -> int:
    return 1


def _kept(port: Any, value: int) -> None:
    """twisted sets the number after each wake-up (and at start); it stays one."""


ONE_ACCEPT_PER_TURN = property(_one_per_turn, _kept, doc="connections accepted per wake-up (always one)")


def install() -> None:
    """Make `twisted.internet.tcp.Port` accept one connection per wake-up; a second call does
    nothing, nor does a twisted whose accept loop no longer reads `numberAccepts`."""
    if "numberAccepts" in tcp.Port.doRead.__code__.co_names:
        tcp.Port.numberAccepts = ONE_ACCEPT_PER_TURN


def installed() -> bool:
    return tcp.Port.__dict__.get("numberAccepts") is ONE_ACCEPT_PER_TURN
