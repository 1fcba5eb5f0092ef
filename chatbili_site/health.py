"""Checks behind /healthz: each component of the site, and one overall status.

`status` is "ok" (everything works), "degraded" (the site serves, something is wrong: a worker
down or crash-looping, a stale ingestion claim, the channel layer failing) or "down" (the database
cannot be reached: nothing can be served). /healthz answers 503 only when down, so a load balancer
keeps sending users to a degraded process. `ok` is true only when the status is "ok".

The `workers` and `supervisor` checks read the state `runsite` writes (SUPERVISOR_STATE_FILE); a
process not started by runsite reports `supervised: false` there.
"""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from chatbili_site import outage
from chatbili_site.supervisor import read_state
from videos.bilibili_login import login_status
from videos.models import VideoPart
from videos.services import STALE_CLAIM_AFTER

CHANNEL_LAYER_TIMEOUT_SECONDS = 3.0


def check_database() -> dict:
    """A fresh connection first (bounded: a pool waits up to its timeout while the server is down),
    then a query through the pool the requests use."""
    if not outage.database_reachable():
        outage.mark_down()
        return {"ok": False, "error": "cannot connect to PostgreSQL"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def check_pgvector() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
        if row is None:
            return {"ok": False, "error": "the vector extension is not installed (run migrations)"}
        return {"ok": True, "version": row[0]}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def check_channel_layer() -> dict:
    try:
        layer = get_channel_layer()
        if layer is None:
            return {"ok": False, "error": "no channel layer configured"}
        async with asyncio.timeout(CHANNEL_LAYER_TIMEOUT_SECONDS):
            channel = await layer.new_channel("healthz.")
            probe = {"type": "healthz.probe", "nonce": uuid.uuid4().hex}
            await layer.send(channel, probe)
            received = await layer.receive(channel)
        if received.get("nonce") != probe["nonce"]:
            return {"ok": False, "error": "the channel layer returned a different message"}
        return {"ok": True, "backend": type(layer).__name__}
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHANNEL_LAYER_TIMEOUT_SECONDS:.0f} s"}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def stale_claims() -> list[dict]:
    """Parts a worker claimed and stopped reporting on (no heartbeat for the stale window)."""
    stale_before = timezone.now() - STALE_CLAIM_AFTER
    rows = VideoPart.objects.exclude(claimed_by="").filter(heartbeat_at__lt=stale_before)
    return [
        {"part_id": pk, "worker": worker, "heartbeat_at": heartbeat.isoformat()}
        for pk, worker, heartbeat in rows.values_list("pk", "claimed_by", "heartbeat_at")[:20]
    ]


def check_workers(state: dict | None) -> dict:
    """The task workers: running (from runsite's state) and heartbeating (their ingestion claims)."""
    try:
        stale = stale_claims()
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    report: dict = {"stale_claims": stale}
    if state is None:
        return {"ok": not stale, "supervised": False, **report}
    workers = [component for component in state["components"] if component["kind"] == "worker"]
    report["processes"] = workers
    healthy = all(worker["running"] and not worker["crash_loop"] for worker in workers)
    return {"ok": healthy and not stale and not state["stale"], "supervised": True, **report}


def check_supervisor(state: dict | None) -> dict:
    """runsite's view: every supervised component, its restarts and the last one."""
    if state is None:
        return {"ok": True, "supervised": False}
    components = state["components"]
    restarts = [component["last_restart"] for component in components if component["last_restart"]]
    crash_loops = [component["name"] for component in components if component["crash_loop"]]
    down = [component["name"] for component in components if not component["running"]]
    return {
        "ok": not crash_loops and not down and not state["stale"],
        "supervised": True,
        "last_restart": max(restarts) if restarts else None,
        "crash_loops": crash_loops,
        "not_running": down,
        "components": components,
    }


async def check_bilibili_login() -> dict:
    """The server's Bilibili login (videos.bilibili_login): valid, expired, unknown, absent or
    fallback (BILIBILI_SESSDATA). Informational: a missing or expired login never fails health."""
    try:
        return {"ok": True, **await login_status()}
    except Exception as exc:  # noqa: BLE001 - a health check reports every failure
        return {"ok": True, "state": "unknown", "error": f"{type(exc).__name__}: {exc}"}


def overall_status(checks: dict) -> str:
    if not checks["database"]["ok"]:
        return "down"
    return "ok" if all(check["ok"] for check in checks.values()) else "degraded"


async def health_report() -> dict:
    database = await sync_to_async(check_database, thread_sensitive=True)()
    pgvector = await sync_to_async(check_pgvector, thread_sensitive=True)()
    channel_layer = await check_channel_layer()
    state = read_state(settings.SUPERVISOR_STATE_FILE)
    workers = await sync_to_async(check_workers, thread_sensitive=True)(state) if database["ok"] else {"ok": False}
    checks = {
        "database": database,
        "pgvector": pgvector,
        "channel_layer": channel_layer,
        "workers": workers,
        "supervisor": check_supervisor(state),
        "bilibili_login": await check_bilibili_login() if database["ok"] else {"ok": True, "state": "unknown"},
    }
    status = overall_status(checks)
    return {"ok": status == "ok", "status": status, "checks": checks}
