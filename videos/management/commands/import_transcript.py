"""`manage.py import_transcript <link> <file>`: use an SRT, WebVTT or BCC JSON file as a part's transcript."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError

from core.errors import AppError
from videos import services
from videos.ingest import part_ingest
from videos.models import VideoPart
from videos.submission import video_submit
from videos.transcripts import transcript_from_file


class Command(BaseCommand):
    help = "Import a transcript file (SRT, WebVTT, BCC JSON) for the part a link names."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("link")
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            transcript = transcript_from_file(path.name, path.read_bytes())
            part = asyncio.run(self.import_into(options["link"], transcript))
        except AppError as exc:
            raise CommandError(exc.message()) from exc
        if part.stage != VideoPart.Stage.READY:
            raise CommandError(part.error_text() or f"the part ended in stage {part.stage}")
        self.stdout.write(self.style.SUCCESS(f"{part}: imported {len(transcript.cues)} lines"))

    async def import_into(self, link: str, transcript: Any) -> VideoPart:
        part = await video_submit(link)
        await sync_to_async(services.part_queue)(part_id=part.pk, force=True)
        if not await part_ingest(part.pk, transcript=transcript):
            raise CommandError("this part is being ingested by a worker right now; try again when it is done")
        await part.arefresh_from_db()
        return part
