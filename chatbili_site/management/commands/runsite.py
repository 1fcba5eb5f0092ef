"""Run the whole site: migrations, the daphne ASGI servers and the background workers, supervised.

`--servers N` starts N daphne processes accepting on one listening socket that this command binds
and hands over (daphne's --fd). The processes talk through a cross-process channel layer: the
children get CHANNEL_LAYER=postgres (channels-postgres on the site's database) unless
CHANNEL_LAYER or REDIS_URL says otherwise; several servers on the in-memory layer are refused.
The site is reported running once /healthz answers.

Every child that dies (a server, a worker) and the embedded PostgreSQL are started again with
backoff while the rest keeps serving (`chatbili_site.supervisor`); the parts a dead worker had
claimed are queued again at once. Ctrl-C (or SIGTERM) stops the children gracefully (servers drain
for SHUTDOWN_GRACE_SECONDS) and then the embedded PostgreSQL; a second Ctrl-C stops everything at
once. The children are started with a parent-death signal, so a SIGKILL of this process does not
leave them behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from chatbili_site import outage
from chatbili_site.db import embedded
from chatbili_site.supervisor import (
    SHUTDOWN_GUARD_SECONDS,
    Component,
    PostgresComponent,
    ProcessComponent,
    Supervisor,
    default_state_file,
)
from chatbili_site.supervisor_sweeps import orphaned_task_rows_fail, stale_streams_interrupt
from core import metrics
from videos.submission import (
    collections_of_worker_requeue,
    dead_local_collection_workers_requeue,
    dead_local_workers_requeue,
    parts_of_worker_requeue,
    requeue_stale_collections,
    requeue_stale_parts,
)

PR_SET_PDEATHSIG = 1
REQUEUE_EVERY_SECONDS = 30
RETRY_REQUEUE_EVERY_SECONDS = 2.0
TICK_SECONDS = 0.2
LISTEN_BACKLOG = 1024
READY_TIMEOUT_SECONDS = 120
# A worker finishing its task on SIGTERM gets this long; then it is killed and its part queued again.
WORKER_STOP_SECONDS = 20.0


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
    help = "Start the ASGI servers (daphne) and the task workers on the configured database, supervised."

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
        self.signals = 0
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=1)
        self._requeue_on_start()
        listener = listening_socket(options["host"], options["port"])
        state_file = Path(settings.SUPERVISOR_STATE_FILE or default_state_file(options["port"]))
        supervisor = Supervisor(
            self._components(options, listener, layer, state_file), state_file=state_file, on_exit=self._on_exit
        )
        self.dead_workers: set[str] = set()
        try:
            supervisor.start_all()
            if self._wait_until_ready(supervisor, options):
                url = f"http://{options['host']}:{options['port']}/"
                self.stdout.write(
                    self.style.SUCCESS(
                        f"ChatBili is running on {url} ({options['servers']} server process(es), "
                        f"channel layer {layer}; Ctrl-C to stop)"
                    )
                )
                self._supervise(supervisor)
        finally:
            listener.close()
            self._stop_children(supervisor)
            supervisor.remove_state()
            if not settings.DATABASE_URL:
                embedded.stop_if_last(settings.EMBEDDED_DB_DIR)
            self.stdout.write("ChatBili stopped.")

    @property
    def stopping(self) -> bool:
        return self.signals > 0

    def _request_stop(self, signum: int, frame: object) -> None:
        self.signals += 1
        if self.signals == 2:
            self.stderr.write("second signal: stopping everything now.")

    def _components(self, options: dict, listener: socket.socket, layer: str, state_file: Path) -> list[Component]:
        python = sys.executable
        fd = listener.fileno()
        env = {**os.environ, "CHANNEL_LAYER": layer, "SUPERVISOR_STATE_FILE": str(state_file)}
        env.update(metrics.multiprocess_environment(options["port"]))  # /metrics sums every child (issue 15)

        def popen(command: list[str], pass_fds: tuple[int, ...] = ()) -> Any:
            # each child in its own process group: a Ctrl-C reaches this command only, which stops the
            # children in order (one SIGTERM each; a second signal would make them stop at once)
            return lambda: subprocess.Popen(  # noqa: S603
                command,
                cwd=settings.BASE_DIR,
                env=env,
                pass_fds=pass_fds,
                preexec_fn=_die_with_parent,
                process_group=0,
            )

        components: list[Component] = []
        if not settings.DATABASE_URL:
            embedded.ensure_running(settings.EMBEDDED_DB_DIR)
            components.append(PostgresComponent(Path(settings.EMBEDDED_DB_DIR)))
        server = [python, "-m", "chatbili_site.supervisor_daphne", "--fd", str(fd)]
        for number in range(options["servers"]):
            components.append(ProcessComponent(f"server-{number + 1}", "server", popen(server, (fd,))))
        worker = [python, "manage.py", "db_worker", "--interval", "0.5", "--no-startup-delay", "--no-reload"]
        for number in range(options["workers"]):
            components.append(ProcessComponent(f"worker-{number + 1}", "worker", popen(worker)))
        return components

    def _wait_until_ready(self, supervisor: Supervisor, options: dict) -> bool:
        """Until /healthz answers 200 (False if stopped first); children that die meanwhile are restarted."""
        import httpx

        host = "127.0.0.1" if options["host"] in ("0.0.0.0", "") else options["host"]  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        url = f"http://{host}:{options['port']}/healthz"
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not self.stopping and time.monotonic() < deadline:
            supervisor.tick()
            try:
                if httpx.get(url, timeout=5, trust_env=False).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(TICK_SECONDS)
        if not self.stopping:
            self.stderr.write(f"the site did not answer {url} within {READY_TIMEOUT_SECONDS} s; stopping.")
        return False

    def _supervise(self, supervisor: Supervisor) -> None:
        next_sweep = time.monotonic() + REQUEUE_EVERY_SECONDS
        next_retry = 0.0
        while not self.stopping:
            supervisor.tick()
            now = time.monotonic()
            if self.dead_workers and now >= next_retry:
                self._requeue_dead_workers()
                next_retry = now + RETRY_REQUEUE_EVERY_SECONDS
            if now >= next_sweep:
                self._database_call(requeue_stale_parts)
                self._database_call(requeue_stale_collections)
                self._database_call(stale_streams_interrupt)
                self._database_call(orphaned_task_rows_fail)
                next_sweep = now + REQUEUE_EVERY_SECONDS
            time.sleep(TICK_SECONDS)

    def _on_exit(self, component: Component, pid: int | None) -> None:
        """A worker died: its parts are queued again now (retried while the database is down)."""
        if component.kind == "worker" and pid is not None:
            self.dead_workers.add(f"{socket.gethostname()}:{pid}")
            self._requeue_dead_workers()

    def _requeue_dead_workers(self) -> None:
        for worker in sorted(self.dead_workers):
            self._database_call(lambda worker=worker: collections_of_worker_requeue(worker=worker))
            if self._database_call(lambda worker=worker: parts_of_worker_requeue(worker=worker)) is not None:
                self.dead_workers.discard(worker)

    def _requeue_on_start(self) -> None:
        """Parts left claimed by workers of an earlier run that was killed are queued again."""
        self._database_call(dead_local_workers_requeue)
        self._database_call(dead_local_collection_workers_requeue)
        self._database_call(orphaned_task_rows_fail)

    def _database_call(self, function: Any) -> Any:
        """Run a database job of the supervisor; None (logged) when the database is not reachable.

        A quick fresh connection first: while PostgreSQL is down the pool would wait for its timeout
        (30 s), and this loop is what restarts PostgreSQL."""
        if not outage.database_reachable():
            return None
        try:
            return function()
        except Exception as exc:  # noqa: BLE001 - the supervisor keeps running
            self.stderr.write(f"{getattr(function, '__name__', 'a database job')} failed: {exc}")
            return None
        finally:
            connections.close_all()

    def _stop_children(self, supervisor: Supervisor) -> None:
        """SIGTERM to every child, then wait (servers drain, workers finish their task); what is still
        running at the deadline, or after a second signal, is killed. A killed worker's parts are queued again."""
        processes = supervisor.processes()
        for process in processes:
            process.signal(signal.SIGTERM)
        grace = float(settings.SHUTDOWN_GRACE_SECONDS) + SHUTDOWN_GUARD_SECONDS + 5
        deadlines = {
            process.name: time.monotonic() + (max(grace, WORKER_STOP_SECONDS) if process.kind == "worker" else grace)
            for process in processes
        }
        while self.signals < 2 and any(
            process.running() and time.monotonic() < deadlines[process.name] for process in processes
        ):
            time.sleep(0.1)
        for process in processes:
            if process.running():
                process.signal(signal.SIGKILL)
                process.process.wait()
                if process.kind == "worker":
                    self.dead_workers.add(f"{socket.gethostname()}:{process.pid()}")
        if self.dead_workers and self.signals < 2:
            self._requeue_dead_workers()
