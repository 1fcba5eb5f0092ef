"""The videos API: submit a link, follow ingestion, download the transcript.

Videos are a shared cache: any signed-in client may read any video's status and transcript.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import Field, Path, Query, Router, Schema, Status
from pydantic import ConfigDict

from core.api import error_responses
from videos.exports import export_filename, part_transcript_json, part_transcript_srt, part_transcript_vtt
from videos.models import Video, VideoPart
from videos.selectors import (
    apart_get_or_404,
    part_get_or_404,
    part_require_ready,
    video_get_or_404,
    video_parts,
)
from videos.submission import part_ingest_enqueue, video_submit

__all__ = ["Bvid", "Page", "PartOut", "apart_get_or_404", "part_out", "part_require_ready", "router"]

router = Router(tags=["videos"])

BVID_PATTERN = r"^BV1[0-9A-Za-z]{9}$"
MAX_PAGE = 10_000
Bvid = Annotated[str, Path(pattern=BVID_PATTERN, description="BV id, e.g. BV1xx411c7mD")]
Page = Annotated[int, Path(ge=1, le=MAX_PAGE, description="1-based part number, as in ?p=N")]


# --- schemas ----------------------------------------------------------------------------------------


class PartOut(Schema):
    bvid: str
    page: int
    cid: int
    title: str
    video_title: str
    duration_seconds: int
    stage: str = Field(description="queued, metadata, transcript, chunks, embeddings, ready or failed")
    progress_percent: int
    error: str = Field(description="why the last run failed, in the request's language")
    error_code: str = Field(description="the stable code of that failure (empty unless failed)")
    ready: bool
    transcript_source: str
    transcript_language: str
    ingested_at: datetime | None


class VideoOut(Schema):
    bvid: str
    aid: int
    title: str
    description: str
    owner_name: str
    cover_url: str
    duration_seconds: int
    published_at: datetime | None
    parts: list[PartOut]


class SubmitIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    link: str = Field(
        min_length=1,
        max_length=2000,
        pattern=r"^[^\x00]*$",
        description="A Bilibili link, b23.tv short link, BV or av id",
    )


class CueOut(Schema):
    start_ms: int
    end_ms: int
    text: str


class TranscriptOut(Schema):
    bvid: str
    page: int
    cid: int
    title: str
    part_title: str
    source: str
    language: str
    cues: list[CueOut]


class TranscriptQuery(Schema):
    format: Literal["json", "srt", "vtt"] = "json"


def part_out(part: VideoPart, video: Video | None = None) -> dict:
    video = video or part.video
    return {
        "bvid": video.bvid,
        "page": part.page,
        "cid": part.cid,
        "title": part.title,
        "video_title": video.title,
        "duration_seconds": part.duration_seconds,
        "stage": part.stage,
        "progress_percent": part.progress_percent,
        "error": part.error_text(),
        "error_code": part.error_code,
        "ready": part.is_ready,
        "transcript_source": part.transcript_source,
        "transcript_language": part.transcript_language,
        "ingested_at": part.ingested_at,
    }


# --- endpoints --------------------------------------------------------------------------------------


@router.post("/videos", response={200: PartOut, 202: PartOut, **error_responses(403, 502, 503)})
async def video_submit_endpoint(request: HttpRequest, body: SubmitIn) -> Status[dict]:
    """Submit a link. 200 with the part when it is ready; 202 while it is queued or being ingested.

    Follow progress with `GET /videos/{bvid}/parts/{page}`. A failed part is queued again.
    """
    part = await video_submit(body.link)
    if not part.is_ready:
        await sync_to_async(part_ingest_enqueue)(part_id=part.pk)
        part = await VideoPart.objects.select_related("video").aget(pk=part.pk)
    return Status(200 if part.is_ready else 202, part_out(part))


@router.get("/videos/{bvid}", response={200: VideoOut, **error_responses(404)})
def video_detail(request: HttpRequest, bvid: Bvid) -> dict:
    """A video and the ingestion status of each of its parts."""
    video = video_get_or_404(bvid=bvid)
    parts = [part_out(part, video) for part in video_parts(video=video)]
    fields = ["bvid", "aid", "title", "description", "owner_name", "cover_url", "duration_seconds", "published_at"]
    return {**{name: getattr(video, name) for name in fields}, "parts": parts}


@router.get("/videos/{bvid}/parts/{page}", response={200: PartOut, **error_responses(404)})
def part_detail(request: HttpRequest, bvid: Bvid, page: Page) -> dict:
    """One part's ingestion status: stage, percent and the error of a failed run."""
    return part_out(part_get_or_404(bvid=bvid, page=page))


@router.get(
    "/videos/{bvid}/parts/{page}/transcript",
    response={200: TranscriptOut, **error_responses(404, 409)},
    openapi_extra={
        "responses": {
            200: {
                "content": {
                    "application/x-subrip": {"schema": {"type": "string"}},
                    "text/vtt": {"schema": {"type": "string"}},
                }
            }
        }
    },
)
def part_transcript(request: HttpRequest, bvid: Bvid, page: Page, query: Query[TranscriptQuery]) -> dict | HttpResponse:
    """The transcript of a ready part, as JSON cues (ms), an SRT file (`format=srt`) or WebVTT (`format=vtt`)."""
    part = part_get_or_404(bvid=bvid, page=page, with_transcript=True)
    part_require_ready(part)
    if query.format in ("srt", "vtt"):
        body, content_type = (
            (part_transcript_srt(part), "application/x-subrip")
            if query.format == "srt"
            else (part_transcript_vtt(part), "text/vtt")
        )
        response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{export_filename(part, query.format)}"'
        return response
    return part_transcript_json(part)
