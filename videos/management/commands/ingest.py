"""`manage.py ingest <link> [<link> ...]`: run the pipeline here, with a progress bar per part.

A collection link (合集, series, favourites folder; or any link with --collection) ingests every
item of the collection, COLLECTION_INGEST_CONCURRENCY at a time, with a line per item change and
an overall bar; run again, it finishes only what is left.
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError

from core.cli import ProgressLine, connection_hint
from core.errors import AppError
from videos import services
from videos.bilibili_collections import collection_ref_from_text
from videos.ingest import part_ingest
from videos.management.ingest_collection import CollectionIngest
from videos.models import VideoPart
from videos.submission import video_submit

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Ingest Bilibili videos (any link form) now, in this process."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("links", nargs="+")
        parser.add_argument("--all-parts", action="store_true", help="ingest every part, not only the linked one")
        parser.add_argument("--force", action="store_true", help="ingest again even if the part is ready")
        parser.add_argument(
            "--collection", action="store_true", help="treat every link as a collection (a video link: all its parts)"
        )
        parser.add_argument("--user", help="owner of the collections (default: the first superuser)")

    def handle(self, *args: Any, **options: Any) -> None:
        self.progress_line = ProgressLine(self.stdout)  # log lines go above the bar, never into it (core.cli)
        with self.progress_line.logs_apart():
            failures = asyncio.run(self.ingest_all(options["links"], options["all_parts"], options["force"], options))
        if failures:
            raise CommandError("\n".join(failures))

    async def ingest_all(self, links: list[str], all_parts: bool, force: bool, options: dict) -> list[str]:
        failures = []
        for link in links:
            if options.get("collection") or collection_ref_from_text(link) is not None:
                failures += await CollectionIngest(self.stdout, self.style, options.get("user")).ingest(link)
                continue
            try:
                part = await video_submit(link)
            except AppError as exc:
                failures.append(f"{link}: {exc.message()}")
                continue
            parts = [part]
            if all_parts:
                parts = [p async for p in VideoPart.objects.filter(video=part.video).select_related("video")]
            for each in parts:
                failure = await self.ingest_part(each, force)
                if failure:
                    failures.append(f"{link} p{each.page}: {failure}")
        return failures

    async def ingest_part(self, part: VideoPart, force: bool) -> str:
        label = f"{part.video.bvid} p{part.page} {part.video.title[:30]}"
        queued = await sync_to_async(services.part_queue)(part_id=part.pk, force=force)
        if not queued:
            await part.arefresh_from_db()
            if part.is_ready:
                self.stdout.write(f"{label}: already ready (use --force to ingest again)")
                return ""
            return "already being ingested by a worker"
        ran = await part_ingest(part.pk, on_progress=lambda progress: self.draw(label, progress))
        self.progress_line.end()
        await part.arefresh_from_db()
        if not ran:
            return "already being ingested by a worker"
        if part.stage == VideoPart.Stage.FAILED:
            return part.error_text() + connection_hint(part.error_code)  # names the host to check (core.cli)
        chunks = await part.chunks.acount()
        self.stdout.write(self.style.SUCCESS(f"{label}: ready, {chunks} chunks ({part.transcript_source})"))
        return ""

    def draw(self, label: str, progress: dict) -> None:
        filled = BAR_WIDTH * progress["percent"] // 100
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.progress_line.show(f"{label} [{bar}] {progress['percent']:3d}% {progress['stage']:<10}")
