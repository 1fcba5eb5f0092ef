"""Run the whole site: migrations, the daphne ASGI server and the background worker.

Ctrl-C (or SIGTERM) stops the children and then the embedded PostgreSQL. The children are
started with a parent-death signal, so a SIGKILL of this process does not leave them behind.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connections

from chatbili_site.db import embedded
from videos.submission import requeue_stale_parts

PR_SET_PDEATHSIG = 1
REQUEUE_EVERY_SECONDS = 30


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
        parser.add_argument("--workers", type=int, default=1, help="number of db_worker processes")
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stopping = False
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=1)
        connections.close_all()
        children = self._start_children(options)
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"ChatBili is running on {url} (Ctrl-C to stop)"))
        try:
            self._wait(children)
        finally:
            self._stop_children(children)
            if not settings.DATABASE_URL:
                embedded.stop_if_last(settings.EMBEDDED_DB_DIR)
            self.stdout.write("ChatBili stopped.")

    def _request_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _start_children(self, options: dict) -> dict[str, subprocess.Popen]:
        python = sys.executable
        commands = {
            "server": [
                python,
                "-m",
                "daphne",
                "-b",
                options["host"],
                "-p",
                str(options["port"]),
                "chatbili_site.asgi:application",
            ],
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
        return {
            name: subprocess.Popen(command, cwd=settings.BASE_DIR, preexec_fn=_die_with_parent)  # noqa: S603
            for name, command in commands.items()
        }

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
