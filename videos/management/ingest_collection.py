"""The collection half of `manage.py ingest`: one line per item change, with the overall bar."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from core.errors import AppError
from videos.collection_ingest import collection_ingest
from videos.collections import collection_submit
from videos.selectors import collection_item_progress, collection_items

BAR_WIDTH = 30


def owner_for(username: str | None) -> Any:
    """The named user, or the first superuser; None when there is neither."""
    users = get_user_model().objects.order_by("pk")
    if username:
        return users.filter(username=username).first()
    return users.filter(is_superuser=True).first()


class CollectionIngest:
    def __init__(self, stdout: Any, style: Any, username: str | None) -> None:
        self.stdout = stdout
        self.style = style
        self.username = username
        self.overall = {"percent": 0, "finished": 0, "total": 0}
        self.seen: dict[int, tuple[str, str, int]] = {}

    async def ingest(self, link: str) -> list[str]:
        """Ingest the collection here; returns a line per failed item (or for the link itself)."""
        owner = await sync_to_async(owner_for)(self.username)
        if owner is None:
            return [f"{link}: no owner for the collection: pass --user USERNAME (or create a superuser)"]
        try:
            collection = await collection_submit(owner=owner, text=link)
        except AppError as exc:
            return [f"{link}: {exc.message()}"]
        self.stdout.write(f"{collection.title} ({collection.get_kind_display()}), collection {collection.pk}")
        if not await collection_ingest(collection.pk, on_progress=self.show):
            return [f"{link}: already being ingested by a worker"]
        self.report()
        items = [collection_item_progress(item) async for item in collection_items(collection_id=collection.pk)]
        return [f"{item['bvid']} p{item['page']}: {item['error']}" for item in items if item["state"] == "failed"]

    def show(self, what: str, payload: dict) -> None:
        if what == "collection":
            self.overall = payload
            return
        seen = (payload["state"], payload["stage"], payload["percent"] // 25)
        if self.seen.get(payload["id"]) == seen:
            return
        self.seen[payload["id"]] = seen
        state = payload["state"] + (f"/{payload['stage']}" if payload["state"] == "running" else "")
        error = f" {payload['error']}" if payload["error"] else ""
        self.stdout.write(
            f"{self.bar()} {payload['bvid']} p{payload['page']} {payload['title'][:30]}: "
            f"{state} {payload['percent']}%{error}"
        )
        self.stdout.flush()

    def bar(self) -> str:
        percent = int(self.overall.get("percent", 0))
        filled = BAR_WIDTH * percent // 100
        done = f"{self.overall.get('finished', 0)}/{self.overall.get('total', 0)}"
        return f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {percent:3d}% {done:>7}"

    def report(self) -> None:
        counts = self.overall.get("counts", {})
        self.stdout.write(
            self.style.SUCCESS(f"{self.bar()} done: {counts.get('ready', 0)} ready, {counts.get('failed', 0)} failed")
        )
        if self.overall.get("cap_message"):
            self.stdout.write(self.style.WARNING(self.overall["cap_message"]))
