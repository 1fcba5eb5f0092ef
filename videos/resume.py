"""What a part's pipeline keeps between a run that died and the run that resumes it (issue 18).

The transcript a run fetched (the uploader's subtitles, or the ASR result of the downloaded audio:
the expensive part) is written to INGEST_KEEP_DIR before it is chunked and embedded, and removed
when the run ends (ready or failed). A run killed in between leaves it behind: the next run of the
part uses it instead of fetching the metadata, subtitles, audio and danmaku again (the dead run
stored those in the database already). Chunks are never doubled whatever happens: they are only
ever swapped in whole (services.part_chunks_replace).

The file is named by database, video and cid, so a replaced part (a new cid) is never fed the old
footage's transcript.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection

from videos.models import VideoPart
from videos.types import Cue, Transcript

logger = logging.getLogger(__name__)


def _kept_path(part: VideoPart) -> Path:
    database = str(connection.settings_dict["NAME"]).replace("/", "_")
    folder = settings.INGEST_KEEP_DIR or Path(tempfile.gettempdir()) / f"chatbili-ingest-{os.getuid()}"
    return Path(folder) / f"{database}-{part.video.bvid}-{part.cid}.json"


def kept_transcript(part: VideoPart) -> Transcript | None:
    """The transcript a dead run of this part fetched, or None."""
    try:
        stored = json.loads(_kept_path(part).read_text())
        transcript = Transcript(
            [Cue(*cue) for cue in stored["cues"]], source=stored["source"], language=stored["language"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    logger.info("resuming %s with the transcript its last run fetched", part)
    return transcript if transcript.cues else None


def transcript_keep(part: VideoPart, transcript: Transcript) -> None:
    """Keep the fetched transcript until the run ends (a run that dies leaves it for the next)."""
    path = _kept_path(part)
    stored = {
        "source": transcript.source,
        "language": transcript.language,
        "cues": [[cue.start_ms, cue.end_ms, cue.text] for cue in transcript.cues],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(stored, ensure_ascii=False))
        temporary.replace(path)
    except OSError as exc:
        logger.warning("could not keep the transcript of %s: %s", part, exc)


def kept_transcript_drop(part: VideoPart) -> None:
    _kept_path(part).unlink(missing_ok=True)
