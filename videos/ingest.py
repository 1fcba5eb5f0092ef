"""The ingestion pipeline for one part: metadata → transcript → chunks → embeddings → ready.

Runs in a task worker (videos.tasks) or inline from `manage.py ingest`. Every stage change is
saved on the part and published on the channel layer. Any failure marks the part failed with
its error code and params; the previous chunks stay untouched until the final atomic swap.
Starting the pipeline is the caller's business (videos.submission queues it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async

from core import metrics
from core.errors import INTERNAL_ERROR, AppError
from videos import asr, resume, services
from videos.bilibili import BilibiliClient
from videos.chunking import chunks_for_transcript
from videos.danmaku import danmaku_summary
from videos.embeddings import embed_texts, embedding_space
from videos.errors import CLAIM_LOST, EMPTY_TRANSCRIPT
from videos.models import VideoPart
from videos.progress import progress_publish
from videos.types import Transcript

logger = logging.getLogger(__name__)

Stage = VideoPart.Stage
ProgressCallback = Callable[[dict], Awaitable[None] | None]


class PartPipeline:
    def __init__(self, part_id: int, *, worker: str, on_progress: ProgressCallback | None = None) -> None:
        self.part_id = part_id
        self.worker = worker
        self.on_progress = on_progress

    async def report(self, stage: str, percent: int) -> None:
        metrics.ingest_stage_enter(self, stage)  # chatbili_ingest_stage_duration_seconds (issue 15)
        part = await sync_to_async(services.part_progress_save)(
            part_id=self.part_id, worker=self.worker, stage=stage, percent=percent
        )
        if part is None:
            raise AppError(CLAIM_LOST)
        await self.announce(part)

    async def announce(self, part: VideoPart) -> None:
        progress = part.progress_dict()
        await progress_publish(progress)
        if self.on_progress is not None:
            result = self.on_progress(progress)
            if result is not None:
                await result

    async def run(self) -> VideoPart:
        part = await VideoPart.objects.select_related("video").aget(pk=self.part_id)
        kept = await sync_to_async(resume.kept_transcript)(part)
        if kept is not None:  # a run that died fetched all this already (videos.resume)
            return await self.store(kept)
        async with BilibiliClient() as client:
            await self.report(Stage.METADATA, 2)
            info = await client.fetch_video_info(part.video.bvid)
            await sync_to_async(services.video_upsert)(info=info)
            part = await VideoPart.objects.select_related("video").aget(pk=self.part_id)

            await self.report(Stage.TRANSCRIPT, 5)
            transcript = await self.fetch_transcript(client, part)
            await self.fetch_danmaku(client, part)
        await sync_to_async(resume.transcript_keep)(part, transcript)
        return await self.store(transcript)

    async def store(self, transcript: Transcript) -> VideoPart:
        """Chunk and embed a transcript, then swap it in atomically."""
        await self.report(Stage.CHUNKS, 45)
        drafts = chunks_for_transcript(transcript)
        if not drafts:
            raise AppError(EMPTY_TRANSCRIPT)

        await self.report(Stage.EMBEDDINGS, 50)
        space = embedding_space()
        vectors = await embed_texts([draft.text for draft in drafts], on_progress=self.embedding_progress)

        part = await sync_to_async(services.part_chunks_replace)(
            part_id=self.part_id, worker=self.worker, transcript=transcript, drafts=drafts, vectors=vectors, space=space
        )
        await self.announce(part)
        metrics.ingest_end(self, "ready")
        return part

    async def fetch_transcript(self, client: BilibiliClient, part: VideoPart) -> Transcript:
        transcript, chapters = await client.fetch_subtitle_and_chapters(part.video.aid, part.cid, part.video.bvid)
        await sync_to_async(services.part_uploader_chapters_save)(part_id=part.pk, chapters=chapters)
        if transcript is not None and transcript.cues:
            return transcript
        await self.report(Stage.TRANSCRIPT, 10)
        audio_urls = await client.fetch_audio_urls(part.video.bvid, part.cid)
        async with client.download_audio_file(audio_urls) as audio:  # streamed to a temporary file
            await self.report(Stage.TRANSCRIPT, 20)
            return await asr.transcribe_audio(audio, filename=f"{part.video.bvid}-p{part.page}.m4a")

    async def fetch_danmaku(self, client: BilibiliClient, part: VideoPart) -> None:
        """Danmaku feed the highlights; without them the rest of the pipeline still works."""
        try:
            items = await client.fetch_danmaku(part.cid)
        except AppError as exc:
            logger.warning("no danmaku for %s: %s", part, exc)
            return
        summary = danmaku_summary(items)
        await VideoPart.objects.filter(pk=part.pk).aupdate(danmaku=summary)

    async def embedding_progress(self, done: int, total: int) -> None:
        await self.report(Stage.EMBEDDINGS, 50 + (49 * done) // max(total, 1))


async def part_ingest(
    part_id: int,
    *,
    worker: str | None = None,
    on_progress: ProgressCallback | None = None,
    transcript: Transcript | None = None,
) -> bool:
    """Run the pipeline if this worker can claim the part. Returns False when another worker has it.

    With a transcript given (an imported file), fetching is skipped and it is chunked and stored.
    """
    worker = worker or services.worker_identity()
    if not await sync_to_async(services.part_claim)(part_id=part_id, worker=worker):
        logger.info("part %s is being ingested by another worker", part_id)
        return False
    pipeline = PartPipeline(part_id, worker=worker, on_progress=on_progress)
    try:
        if transcript is None:
            await pipeline.run()
        else:
            await pipeline.store(transcript)
    except AppError as exc:
        await _fail(pipeline, exc)
    except Exception:
        logger.exception("ingestion of part %s failed", part_id)
        await _fail(pipeline, AppError(INTERNAL_ERROR))
    finally:
        await sync_to_async(services.part_release)(part_id=part_id, worker=worker)
        await sync_to_async(_kept_transcript_drop)(part_id)
    return True


def _kept_transcript_drop(part_id: int) -> None:
    """The run ended (ready or failed): the next run fetches afresh."""
    part = VideoPart.objects.select_related("video").filter(pk=part_id).first()
    if part is not None:
        resume.kept_transcript_drop(part)


async def _fail(pipeline: PartPipeline, error: AppError) -> None:
    metrics.ingest_end(pipeline, "failed")
    part = await sync_to_async(services.part_fail)(part_id=pipeline.part_id, worker=pipeline.worker, error=error)
    if part is not None:
        await pipeline.announce(part)
