"""`manage.py summarize <link>`: stream a ready part's summary to the terminal (cached when it exists)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat.llm import GenerationError
from chat.summaries import summary_stream
from videos.errors import VideoError
from videos.links import parse_video_ref
from videos.models import VideoPart


class Command(BaseCommand):
    help = "Print the summary of an ingested part, streaming it as it is generated."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("link", help="a BV/av id or video URL of a part ingested before")
        parser.add_argument("--language", choices=["zh", "en", "auto"], default="zh")
        parser.add_argument("--regenerate", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ref = parse_video_ref(options["link"])
        except VideoError as exc:
            raise CommandError(exc.message) from exc
        part = VideoPart.objects.select_related("video").filter(video__bvid=ref.bvid, page=ref.page).first()
        if part is None or not part.is_ready:
            raise CommandError(f"{ref.bvid} p{ref.page} is not ingested yet: run `manage.py ingest` first")
        error = asyncio.run(self.stream(part, options["language"], options["regenerate"]))
        if error:
            raise CommandError(error)

    async def stream(self, part: VideoPart, language: str, regenerate: bool) -> str:
        try:
            async for event in summary_stream(part, language, None, regenerate=regenerate):
                if event["type"] == "token":
                    self.stdout.write(event["text"], ending="")
                    self.stdout.flush()
                elif event["type"] == "reset":
                    self.stdout.write("\n--- restarted ---\n")
                elif event["type"] == "error":
                    return event["message"]
                elif event["type"] == "done":
                    label = "（离线摘要 offline summary）" if event["summary"].get("offline") else ""
                    self.stdout.write(f"\n{label}")
        except GenerationError as exc:
            return exc.message
        return ""
