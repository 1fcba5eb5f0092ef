"""One server process of `runsite`: daphne on the inherited listening socket, with a graceful stop.

    python -m chatbili_site.supervisor_daphne --fd N

SIGTERM or SIGINT: this process stops accepting (it closes its copy of the shared socket; the other
server processes keep accepting on it), lets running requests and streams finish for
SHUTDOWN_GRACE_SECONDS, then cancels the streams and summary generations still running: each is
saved with what it has, as interrupted with code server_restarted (chat.interruptions), and the
reactor stops. A second signal exits at once.

A guard ends the process SHUTDOWN_GUARD_SECONDS after the grace period whatever it is waiting for:
a daphne on the postgres channel layer once ignored SIGTERM (the reactor waited for application
instances that never ended, or the interpreter for a thread at exit) and needed SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

from daphne.server import Server  # first: installs the asyncio reactor
from daphne.ws_protocol import WebSocketProtocol
from twisted.internet import reactor

from chatbili_site.supervisor import SHUTDOWN_GUARD_SECONDS

logger = logging.getLogger("chatbili_site.supervisor")

DRAIN_POLL_SECONDS = 0.2
STREAM_SAVE_SECONDS = 5.0


def running_streams() -> list[asyncio.Task]:
    """Answers, summaries and comment drafts streaming on this process's websockets, and the summary
    generations it runs (which go on when their sockets have gone)."""
    from chat.consumers import RUNNING_STREAMS
    from chat.summaries.generation import generations_running

    return [task for task in RUNNING_STREAMS if not task.done()] + generations_running()


class GracefulServer(Server):
    """daphne's Server that drains before it stops (see the module docstring)."""

    def __init__(self, *args: Any, grace_seconds: float, **kwargs: Any) -> None:
        super().__init__(*args, signal_handlers=False, **kwargs)
        self.grace_seconds = grace_seconds
        self.ports: list[Any] = []
        self.stopping = False

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def install_signal_handlers(self) -> None:
        loop = reactor._asyncioEventloop
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.begin_shutdown, signum)

    def begin_shutdown(self, signum: int) -> None:
        if self.stopping:
            logger.warning("server %s: second %s, exiting now", os.getpid(), signal.Signals(signum).name)
            os._exit(1)
        self.stopping = True
        logger.info(
            "server %s: %s, draining for up to %.0f s", os.getpid(), signal.Signals(signum).name, self.grace_seconds
        )
        for port in self.ports:
            port.stopListening()
        guard = threading.Timer(self.grace_seconds + SHUTDOWN_GUARD_SECONDS, self.give_up)
        guard.daemon = True
        guard.start()
        self.drain(time.monotonic() + self.grace_seconds)

    def busy(self) -> bool:
        for protocol, details in list(self.connections.items()):
            instance = details.get("application_instance")
            if not isinstance(protocol, WebSocketProtocol) and instance is not None and not instance.done():
                return True
        return bool(running_streams())

    def drain(self, deadline: float) -> None:
        if self.busy() and time.monotonic() < deadline:
            reactor.callLater(DRAIN_POLL_SECONDS, self.drain, deadline)
            return
        if self.busy():
            logger.warning("server %s: grace period over, interrupting what still runs", os.getpid())
        self.stopper = asyncio.ensure_future(self.interrupt_streams_then_stop())

    async def interrupt_streams_then_stop(self) -> None:
        """Cancel the streams still running and let them save what they have (as interrupted): daphne's
        own stop cancels the sockets, not the stream tasks they started, which then never saved."""
        from chat.interruptions import server_stopping_begin

        server_stopping_begin()  # what is cut off from now on was cut off by the restart
        streams = running_streams()
        for stream in streams:
            stream.cancel()
        if streams:
            await asyncio.wait(streams, timeout=STREAM_SAVE_SECONDS)
        reactor.stop()

    @staticmethod
    def give_up() -> None:
        logger.error("server %s did not stop in time after SIGTERM; exiting", os.getpid())
        os._exit(1)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="the inherited listening socket")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbili_site.settings")
    from django.conf import settings

    from chatbili_site.asgi import application

    server = GracefulServer(
        application=application,
        endpoints=[f"fd:fileno={args.fd}"],
        grace_seconds=float(settings.SHUTDOWN_GRACE_SECONDS),
    )
    reactor.callWhenRunning(server.install_signal_handlers)
    server.run()
    # the reactor stopped: leave even if a thread or an exit handler would hang
    exit_guard = threading.Timer(SHUTDOWN_GUARD_SECONDS, os._exit, args=(0,))
    exit_guard.daemon = True
    exit_guard.start()


if __name__ == "__main__":
    main(sys.argv[1:])
