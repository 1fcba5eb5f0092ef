"""`manage.py summarize <link>`: stream a ready part's summary to the terminal (cached when it exists).

It opens the summary through the generation gate (chat.gate) like the websocket and the API, so
a missing part is `part_not_found`, a part not ingested yet `part_not_ready` (or `ingest_failed`),
each printed as the error's message. The operator has no quota. Ctrl-C leaves what was printed and
ends it with INTERRUPTED_MARKER (exit status 130); the summary is saved as interrupted with its text.
Ctrl-C is heard through core.interrupts, so it is never lost (a swallowed cancellation, a SIGINT
inherited as ignored).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat.gate import GateStream, SummaryOrder, generation_open
from core.cli import connection_hint
from core.errors import AppError
from core.interrupts import run_interruptible
from videos.links import parse_video_ref

NOT_INGESTED = ("part_not_found", "part_not_ready")
INTERRUPTED_MARKER = "--- 已中断 interrupted: the summary above is incomplete ---"


class Command(BaseCommand):
    help = "Print the summary of an ingested part, streaming it as it is generated."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("link", help="a BV/av id or video URL of a part ingested before")
        parser.add_argument("--language", choices=["zh", "en", "auto"], default="zh")
        parser.add_argument("--regenerate", action="store_true")
        parser.add_argument(
            "--style", default="standard", help="brief, standard, study, qa, or custom:<template id> (any user's)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        order = SummaryOrder(options["language"], regenerate=options["regenerate"], style=options["style"])
        try:
            ref = parse_video_ref(options["link"])
            error = run_interruptible(self.summarize(ref.bvid, ref.page, order))
        except KeyboardInterrupt:
            # Ctrl-C: the stream was cancelled and the generation saved its text as interrupted; what
            # it had is printed above, and this says it is not the whole summary.
            self.stdout.write(f"\n{INTERRUPTED_MARKER}")
            self.stdout.flush()
            # the closed loop leaves a summary follower's generator pending; its "Task was destroyed"
            # line at exit would only confuse after the marker
            logging.getLogger("asyncio").setLevel(logging.CRITICAL)
            raise CommandError("interrupted", returncode=130) from None
        except AppError as exc:
            hint = " (run `manage.py ingest` first)" if exc.code in NOT_INGESTED else ""
            raise CommandError(f"{exc.code}: {exc.message()}{hint}{connection_hint(exc.code)}") from exc
        if error:
            raise CommandError(error)

    async def summarize(self, bvid: str, page: int, order: SummaryOrder) -> str:
        events = await generation_open(user=None, bvid=bvid, page=page, order=order)
        return await self.print_events(events)

    async def print_events(self, events: GateStream) -> str:
        """Print the summary as it streams; the `error` event's message, or "" when it finished."""
        async for event in events:
            if event["type"] == "token":
                self.stdout.write(event["text"], ending="")
                self.stdout.flush()
            elif event["type"] == "reset":
                self.stdout.write("\n--- restarted ---\n")
            elif event["type"] == "error":
                return f"{event['code']}: {event['message']}{connection_hint(event['code'])}"
            elif event["type"] == "done":
                label = "（离线摘要 offline summary）" if event["summary"].get("offline") else ""
                self.stdout.write(f"\n{label}")
        return ""
