"""Run the whole site: migrations, the daphne ASGI servers and the background workers.

`--servers N` starts N daphne processes accepting on one listening socket that this command binds
and hands over (daphne's --fd). The processes talk through a cross-process channel layer: the
children get CHANNEL_LAYER=postgres (channels-postgres on the site's database) unless
CHANNEL_LAYER or REDIS_URL says otherwise; several servers on the in-memory layer are refused.
The site is reported running once /healthz answers. Ctrl-C (or SIGTERM) stops the children and
then the embedded PostgreSQL. The children are started with a parent-death signal, so a SIGKILL
of this process does not leave them behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from chatbili_site.db import embedded
from videos.submission import requeue_stale_parts

PR_SET_PDEATHSIG = 1
REQUEUE_EVERY_SECONDS = 30
LISTEN_BACKLOG = 1024
READY_TIMEOUT_SECONDS = 120


def children_channel_layer() -> str:
    """The layer the site's processes use: as configured, else postgres (redis with REDIS_URL)."""
    configured = os.environ.get("CHANNEL_LAYER", "").strip()
    if configured:
        return configured
    return "redis" if settings.REDIS_URL else "postgres"


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket every server process accepts on (inherited by the children)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(LISTEN_BACKLOG)
    listener.set_inheritable(True)
    return listener


def _die_with_parent() -> None:
    """Runs in the child before exec: receive SIGTERM when the parent dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Command(BaseCommand):
    help = "Start the ASGI server (daphne) and the task worker, on the configured database."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--servers", type=int, default=1, help="number of daphne processes (one socket)")
        parser.add_argument("--workers", type=int, default=1, help="number of db_worker processes")
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["servers"] < 1:
            raise CommandError("--servers must be at least 1")
        layer = children_channel_layer()
        if options["servers"] > 1 and layer == "memory":
            raise CommandError(
                f"--servers {options['servers']} needs a cross-process channel layer, but CHANNEL_LAYER=memory "
                "only reaches consumers in one process: unset CHANNEL_LAYER (postgres on the site's "
                "database) or set REDIS_URL."
            )
        self.stopping = False
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=1)
        connections.close_all()
        listener = listening_socket(options["host"], options["port"])
        try:
            children = self._start_children(options, listener, layer)
        finally:
            listener.close()  # the servers hold their copies
        try:
            if self._wait_until_ready(children, options):
                url = f"http://{options['host']}:{options['port']}/"
                self.stdout.write(
                    self.style.SUCCESS(
                        f"ChatBili is running on {url} ({options['servers']} server process(es), "
                        f"channel layer {layer}; Ctrl-C to stop)"
                    )
                )
                self._wait(children)
        finally:
            self._stop_children(children)
            if not settings.DATABASE_URL:
                embedded.stop_if_last(settings.EMBEDDED_DB_DIR)
            self.stdout.write("ChatBili stopped.")

    def _request_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _start_children(self, options: dict, listener: socket.socket, layer: str) -> dict[str, subprocess.Popen]:
        python = sys.executable
        fd = listener.fileno()
        commands = {
            f"server-{number + 1}": [python, "-m", "daphne", "--fd", str(fd), "chatbili_site.asgi:application"]
            for number in range(options["servers"])
        }
        for number in range(options["workers"]):
            commands[f"worker-{number + 1}"] = [
                python,
                "manage.py",
                "db_worker",
                "--interval",
                "0.5",
                "--no-startup-delay",
                "--no-reload",
            ]
        env = {**os.environ, "CHANNEL_LAYER": layer}
        return {
            name: subprocess.Popen(  # noqa: S603
                command,
                cwd=settings.BASE_DIR,
                env=env,
                pass_fds=(fd,) if name.startswith("server") else (),
                preexec_fn=_die_with_parent,
            )
            for name, command in commands.items()
        }

    def _wait_until_ready(self, children: dict[str, subprocess.Popen], options: dict) -> bool:
        """Until /healthz answers 200 (False if stopped or a child died first)."""
        import httpx

        host = "127.0.0.1" if options["host"] in ("0.0.0.0", "") else options["host"]  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        url = f"http://{host}:{options['port']}/healthz"
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self.stopping and time.monotonic() < deadline:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with code {child.returncode} before the site was ready.")
                    return False
            try:
                if httpx.get(url, timeout=5, trust_env=False).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        if not self.stopping:
            self.stderr.write(f"the site did not answer {url} within {READY_TIMEOUT_SECONDS} s; stopping.")
        return False

    def _wait(self, children: dict[str, subprocess.Popen]) -> None:
        next_sweep = time.monotonic() + REQUEUE_EVERY_SECONDS
        while not self.stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with code {child.returncode}; stopping the site.")
                    return
            if time.monotonic() >= next_sweep:
                self._requeue_orphaned_jobs()
                next_sweep = time.monotonic() + REQUEUE_EVERY_SECONDS
            time.sleep(0.3)

    def _requeue_orphaned_jobs(self) -> None:
        """Jobs whose worker died (no heartbeat) are queued again."""
        try:
            requeue_stale_parts()
        except Exception as exc:  # noqa: BLE001 - the supervisor keeps running
            self.stderr.write(f"could not requeue orphaned jobs: {exc}")
        finally:
            connections.close_all()

    def _stop_children(self, children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
