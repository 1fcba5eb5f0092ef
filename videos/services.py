"""Writes for videos: store metadata, queue and claim ingestion, replace a part's chunks, record
a user's videos.

Pages, the API, consumers, tasks and commands all go through these functions. They only write
rows: starting a background job is the caller's decision (videos.submission enqueues).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import AppError
from videos.errors import CACHE_PURGED, PART_REPLACED
from videos.models import Chunk, Video, VideoPart, VideoRequest
from videos.search_text import search_terms
from videos.types import ChunkDraft, Transcript, VideoInfo

logger = logging.getLogger(__name__)

# A claimed part whose worker has not been heard from for this long is taken to be orphaned.
STALE_CLAIM_AFTER = timedelta(seconds=90)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@transaction.atomic
def video_upsert(*, info: VideoInfo) -> Video:
    """Create or update a video and all its parts from fresh metadata, in one transaction."""
    published = datetime.fromtimestamp(info.published_at, tz=UTC) if info.published_at else None
    video, _ = Video.objects.update_or_create(
        bvid=info.bvid,
        defaults={
            "aid": info.aid,
            "title": info.title[:500],
            "description": info.description,
            "owner_mid": info.owner_mid,
            "owner_name": info.owner_name[:200],
            "cover_url": info.cover_url[:500],
            "duration_seconds": info.duration_seconds,
            "published_at": published,
            "stats": info.stats,
        },
    )
    for part in info.parts:
        existing = VideoPart.objects.filter(video=video, page=part.page).first()
        if existing is not None and existing.cid != part.cid:
            _part_footage_replaced(part=existing, cid=part.cid)
        if existing is None:
            VideoPart.objects.create(
                video=video,
                page=part.page,
                cid=part.cid,
                title=part.title[:500],
                duration_seconds=part.duration_seconds,
            )
        else:
            VideoPart.objects.filter(pk=existing.pk).update(
                title=part.title[:500], duration_seconds=part.duration_seconds
            )
    return video


def _part_footage_replaced(*, part: VideoPart, cid: int) -> None:
    """The uploader replaced a part: drop what describes the old footage, keep conversations.

    A pipeline already running for the part keeps its claim and goes on with the new cid.
    """
    Chunk.objects.filter(part=part).delete()
    VideoPart.objects.filter(pk=part.pk).update(
        cid=cid, transcript_cues=[], uploader_chapters=[], danmaku={}, ingested_at=None, progress_percent=0
    )
    VideoPart.objects.filter(pk=part.pk, stage=VideoPart.Stage.READY).update(
        stage=VideoPart.Stage.FAILED, error_code=PART_REPLACED.code, error_params={}
    )


@transaction.atomic
def part_queue(*, part_id: int, force: bool = False) -> bool:
    """Reset the part to queued unless it is ready (and not forced) or a live worker runs it.

    Concurrent calls are serialized on the part's row, so only one of them returns True; that
    caller starts the pipeline (a background job, or `manage.py ingest` in its own process).
    """
    part = VideoPart.objects.select_for_update().get(pk=part_id)
    if part.is_ready and not force:
        return False
    if part.is_in_progress and not _claim_is_stale(part):
        return False
    VideoPart.objects.filter(pk=part.pk).update(
        stage=VideoPart.Stage.QUEUED,
        progress_percent=0,
        error_code="",
        error_params={},
        claimed_by="",
        heartbeat_at=timezone.now(),
        ingest_started_at=timezone.now(),
    )
    return True


def stale_part_ids() -> list[int]:
    """Parts whose worker died mid-pipeline (no heartbeat for STALE_CLAIM_AFTER)."""
    stale_before = timezone.now() - STALE_CLAIM_AFTER
    return list(
        VideoPart.objects.exclude(stage__in=[VideoPart.Stage.READY, VideoPart.Stage.FAILED])
        .filter(Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True))
        .values_list("pk", flat=True)
    )


def _claim_is_stale(part: VideoPart) -> bool:
    return part.heartbeat_at is None or timezone.now() - part.heartbeat_at > STALE_CLAIM_AFTER


def part_claim(*, part_id: int, worker: str) -> bool:
    """Atomically take a queued or running part for this worker, unless a live worker has it.

    A ready or failed part is not taken, so a duplicate job for it ends at once.
    """
    stale_before = timezone.now() - STALE_CLAIM_AFTER
    claimed = (
        VideoPart.objects.filter(pk=part_id)
        .exclude(stage__in=[VideoPart.Stage.READY, VideoPart.Stage.FAILED])
        .filter(Q(claimed_by="") | Q(claimed_by=worker) | Q(heartbeat_at__lt=stale_before))
        .update(claimed_by=worker, heartbeat_at=timezone.now())
    )
    return claimed == 1


def part_progress_save(
    *, part_id: int, worker: str, stage: str, percent: int, error: AppError | None = None
) -> VideoPart | None:
    """Record a stage change or progress (and heartbeat) if this worker still holds the claim."""
    stored = error.stored() if error is not None else {"code": "", "params": {}}
    updated = VideoPart.objects.filter(pk=part_id, claimed_by=worker).update(
        stage=stage,
        progress_percent=max(0, min(100, percent)),
        error_code=stored["code"],
        error_params=stored["params"],
        heartbeat_at=timezone.now(),
    )
    if not updated:
        return None
    return VideoPart.objects.select_related("video").get(pk=part_id)


def part_fail(*, part_id: int, worker: str, error: AppError) -> VideoPart | None:
    """Mark the part failed with the error's code and params, and let go of the claim."""
    with transaction.atomic():
        part = part_progress_save(part_id=part_id, worker=worker, stage=VideoPart.Stage.FAILED, percent=0, error=error)
        VideoPart.objects.filter(pk=part_id, claimed_by=worker).update(claimed_by="")
    return part


def part_uploader_chapters_save(*, part_id: int, chapters: list[dict]) -> None:
    """Keep the uploader's own chapters of a part (`view_points`; [] when it has none)."""
    VideoPart.objects.filter(pk=part_id).update(uploader_chapters=chapters)


def part_release(*, part_id: int, worker: str) -> None:
    VideoPart.objects.filter(pk=part_id, claimed_by=worker).update(claimed_by="")


@transaction.atomic
def part_chunks_replace(
    *,
    part_id: int,
    worker: str | None,
    transcript: Transcript,
    drafts: list[ChunkDraft],
    vectors: list[list[float]],
    space: str,
) -> VideoPart:
    """Swap in a part's new transcript and chunks at once and mark it ready.

    Readers see the old set or the new one, never a mix. With a worker given, the swap only
    happens while that worker still holds the claim.
    """
    if len(vectors) != len(drafts):
        raise ValueError(f"{len(drafts)} chunks but {len(vectors)} embeddings")
    part = VideoPart.objects.select_for_update().select_related("video").get(pk=part_id)
    if worker is not None and part.claimed_by != worker:
        raise PermissionError(f"worker {worker} no longer holds part {part_id}")
    Chunk.objects.filter(part=part).delete()
    Chunk.objects.bulk_create(
        Chunk(
            part=part,
            ordinal=ordinal,
            start_ms=draft.start_ms,
            end_ms=draft.end_ms,
            text=draft.text,
            token_count=draft.token_count,
            embedding=vector,
            embedding_model=space,
        )
        for ordinal, (draft, vector) in enumerate(zip(drafts, vectors, strict=True))
    )
    _chunks_search_vector_fill(part_id=part.pk)
    part.transcript_cues = [[cue.start_ms, cue.end_ms, cue.text] for cue in transcript.cues]
    part.transcript_source = transcript.source
    part.transcript_language = transcript.language[:32]
    part.stage = VideoPart.Stage.READY
    part.progress_percent = 100
    part.error_code = ""
    part.error_params = {}
    part.ingested_at = timezone.now()
    part.heartbeat_at = timezone.now()
    part.claimed_by = ""
    part.save()
    return part


def _chunks_search_vector_fill(*, part_id: int) -> None:
    """Fill the keyword field of every chunk of the part in one statement."""
    rows = list(Chunk.objects.filter(part_id=part_id).values_list("pk", "text"))
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Chunk._meta.db_table} AS c SET search_vector = to_tsvector('simple', v.terms) "  # noqa: S608
            "FROM unnest(%s::bigint[], %s::text[]) AS v(id, terms) WHERE c.id = v.id",
            [[pk for pk, _ in rows], [search_terms(text) for _, text in rows]],
        )


def part_embeddings_replace(*, part_id: int, vectors_by_chunk: dict[int, list[float]], space: str) -> int:
    """Store re-computed embeddings for a part's chunks in one transaction (used by `reembed`)."""
    with transaction.atomic():
        for chunk_id, vector in vectors_by_chunk.items():
            Chunk.objects.filter(pk=chunk_id, part_id=part_id).update(embedding=vector, embedding_model=space)
    return len(vectors_by_chunk)


@transaction.atomic
def video_cache_purge(*, video_ids: list[int]) -> int:
    """Drop the parts' chunks, transcripts and danmaku; the parts show as failed until resubmitted.

    Parts being ingested right now are left alone. Returns how many parts were purged.
    """
    parts = VideoPart.objects.filter(video_id__in=video_ids).exclude(stage__in=VideoPart.IN_PROGRESS_STAGES)
    part_ids = list(parts.values_list("pk", flat=True))
    Chunk.objects.filter(part_id__in=part_ids).delete()
    VideoPart.objects.filter(pk__in=part_ids).update(
        stage=VideoPart.Stage.FAILED,
        progress_percent=0,
        error_code=CACHE_PURGED.code,
        error_params={},
        transcript_cues=[],
        uploader_chapters=[],
        danmaku={},
        transcript_source="",
        ingested_at=None,
    )
    return len(part_ids)


def video_request_record(*, user: object, part: VideoPart) -> VideoRequest:
    """Put the part's video at the top of the user's history, remembering the part."""
    request, _ = VideoRequest.objects.update_or_create(
        user=user, video_id=part.video_id, defaults={"page": part.page, "opened_at": timezone.now()}
    )
    return request
