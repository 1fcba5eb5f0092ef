"""Checks behind /healthz: the database, the pgvector extension and the channel layer."""

from __future__ import annotations

import uuid

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection


def check_database() -> dict:
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
        channel = await layer.new_channel("healthz.")
        probe = {"type": "healthz.probe", "nonce": uuid.uuid4().hex}
        await layer.send(channel, probe)
        received = await layer.receive(channel)
        if received.get("nonce") != probe["nonce"]:
            return {"ok": False, "error": "the channel layer returned a different message"}
        return {"ok": True, "backend": type(layer).__name__}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def health_report() -> dict:
    database = await sync_to_async(check_database, thread_sensitive=True)()
    pgvector = await sync_to_async(check_pgvector, thread_sensitive=True)()
    channel_layer = await check_channel_layer()
    checks = {"database": database, "pgvector": pgvector, "channel_layer": channel_layer}
    return {"ok": all(check["ok"] for check in checks.values()), "checks": checks}
