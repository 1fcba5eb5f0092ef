"""What ChatBili knows about a video: its parts, their ingestion state and their chunks."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from core.errors import stored_error_message

# Every embedding is stored in one fixed-width column so that one HNSW index serves it.
# Models with fewer dimensions are zero-padded, which leaves cosine distances unchanged.
EMBEDDING_COLUMN_DIMENSIONS = 1024


class Video(models.Model):
    bvid = models.CharField(max_length=12, unique=True)
    aid = models.BigIntegerField(db_index=True)
    title = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    owner_mid = models.BigIntegerField(null=True, blank=True)
    owner_name = models.CharField(max_length=200, blank=True)
    cover_url = models.URLField(max_length=500, blank=True)
    duration_seconds = models.PositiveIntegerField(default=0)
    published_at = models.DateTimeField(null=True, blank=True)
    stats = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.bvid} {self.title}"


class VideoPart(models.Model):
    class Stage(models.TextChoices):
        QUEUED = "queued", "排队中 queued"
        METADATA = "metadata", "获取信息 metadata"
        TRANSCRIPT = "transcript", "获取字幕 transcript"
        CHUNKS = "chunks", "切分 chunks"
        EMBEDDINGS = "embeddings", "向量化 embeddings"
        READY = "ready", "就绪 ready"
        FAILED = "failed", "失败 failed"

    class TranscriptSource(models.TextChoices):
        NONE = "", "无 none"
        SUBTITLE = "subtitle", "字幕 subtitle"
        AI_SUBTITLE = "ai_subtitle", "AI 字幕 AI subtitle"
        ASR = "asr", "语音识别 ASR"
        IMPORTED = "imported", "导入 imported"

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="parts")
    page = models.PositiveIntegerField(help_text="1-based part number, as in ?p=N")
    cid = models.BigIntegerField()
    title = models.CharField(max_length=500, blank=True)
    duration_seconds = models.PositiveIntegerField(default=0)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    # Why the last run failed, as an error code and its params (videos.errors); rendered when shown.
    error_code = models.CharField(max_length=64, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    transcript_source = models.CharField(
        max_length=16, choices=TranscriptSource.choices, default=TranscriptSource.NONE, blank=True
    )
    transcript_language = models.CharField(max_length=32, blank=True)
    # {"bucket_seconds": 10, "counts": [..], "top_texts": [[[text, count], ..], ..], "total": n}
    danmaku = models.JSONField(default=dict, blank=True)
    # [[start_ms, end_ms, text], ...]: the transcript the chunks were cut from (for exports).
    transcript_cues = models.JSONField(default=list, blank=True)
    # [{"start_ms", "end_ms", "title"}, ...]: the uploader's own chapters (view_points), if any.
    uploader_chapters = models.JSONField(default=list, blank=True)
    ingest_started_at = models.DateTimeField(null=True, blank=True)
    ingested_at = models.DateTimeField(null=True, blank=True)
    # The worker running this part's pipeline and its last sign of life (see services.part_claim).
    claimed_by = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["video", "page"]
        constraints = [
            models.UniqueConstraint(fields=["video", "page"], name="videopart_unique_page"),
            models.CheckConstraint(condition=models.Q(page__gte=1), name="videopart_page_1_based"),
            models.CheckConstraint(
                condition=models.Q(progress_percent__lte=100), name="videopart_progress_at_most_100"
            ),
        ]

    IN_PROGRESS_STAGES = (Stage.QUEUED, Stage.METADATA, Stage.TRANSCRIPT, Stage.CHUNKS, Stage.EMBEDDINGS)

    def __str__(self) -> str:
        return f"{self.video.bvid} p{self.page}"

    @property
    def is_ready(self) -> bool:
        return self.stage == self.Stage.READY

    @property
    def is_in_progress(self) -> bool:
        return self.stage not in (self.Stage.READY, self.Stage.FAILED)

    def error_text(self, language: str | None = None) -> str:
        """Why the last run failed, in `language` (the active one by default); "" when it did not."""
        return stored_error_message(self.error_code, self.error_params, language)

    def progress_dict(self) -> dict:
        return {
            "bvid": self.video.bvid,
            "page": self.page,
            "stage": self.stage,
            "percent": self.progress_percent,
            "error": self.error_text(),
            "error_code": self.error_code,
        }


class Chunk(models.Model):
    """A span of one part's transcript, with real millisecond bounds and its embedding.

    `embedding_model` names the vector space ("<model>@<dimensions>"). Vector queries always
    filter on it, so vectors from different models are never compared.
    """

    part = models.ForeignKey(VideoPart, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    start_ms = models.PositiveIntegerField()
    end_ms = models.PositiveIntegerField()
    text = models.TextField()
    token_count = models.PositiveIntegerField()
    embedding = VectorField(dimensions=EMBEDDING_COLUMN_DIMENSIONS, null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True, db_index=True)
    search_vector = SearchVectorField(null=True, blank=True)

    class Meta:
        ordering = ["part", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["part", "ordinal"], name="chunk_unique_ordinal"),
            models.CheckConstraint(condition=models.Q(end_ms__gte=models.F("start_ms")), name="chunk_end_after_start"),
        ]
        indexes = [
            # m 32 / ef_construction 128 (pgvector's defaults are 16 / 64): transcripts are tight clusters
            # (a video, a passage), and the default graph links them so sparsely that a library-wide
            # search misses the right cluster for ~12% of questions (bench/library_retrieval.py).
            HnswIndex(
                name="chunk_embedding_hnsw_cosine",
                fields=["embedding"],
                m=32,
                ef_construction=128,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="chunk_search_vector_gin"),
        ]

    def __str__(self) -> str:
        return f"{self.part} #{self.ordinal} [{self.start_ms}–{self.end_ms} ms]"


class VideoRequest(models.Model):
    """A video in a user's history: one they submitted or opened, and the part they opened last."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="video_requests")
    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="requests")
    page = models.PositiveIntegerField(default=1, help_text="The part opened last")
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "video"], name="videorequest_unique_user_video")]
        indexes = [models.Index(fields=["user", "-opened_at"], name="videorequest_user_recent")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.video_id} p{self.page}"


class Collection(models.Model):
    """A user's collection: all parts of a multi-part video, an uploader's 合集 or series, or a favourites folder."""

    class Kind(models.TextChoices):
        PARTS = "parts", "分P视频 multi-part video"
        SEASON = "season", "合集 collection"
        SERIES = "series", "系列 series"
        FAVOURITES = "favourites", "收藏夹 favourites"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The Bilibili id of the source: a bvid (parts), season_id, series_id or media_id (favourites).
    source_id = models.CharField(max_length=40)
    source_url = models.URLField(max_length=500, blank=True)
    title = models.CharField(max_length=500, blank=True)
    uploader_mid = models.BigIntegerField(null=True, blank=True)
    uploader_name = models.CharField(max_length=200, blank=True)
    # The source had more items than COLLECTION_ITEM_CAP; only the first ones were taken.
    item_cap_reached = models.BooleanField(default=False)
    source_item_count = models.PositiveIntegerField(default=0, help_text="Videos the source listed")
    # The worker running this collection's ingestion and its last sign of life (videos.collection_ingest).
    claimed_by = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "kind", "source_id"], name="collection_unique_owner_source"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.source_id} {self.title}"


class CollectionItem(models.Model):
    """One video part of a collection (a multi-part video contributes each of its parts)."""

    class State(models.TextChoices):
        QUEUED = "queued", "排队中 queued"
        RUNNING = "running", "处理中 running"
        READY = "ready", "就绪 ready"
        FAILED = "failed", "失败 failed"
        SKIPPED = "skipped", "跳过 skipped"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(help_text="0-based order in the collection")
    bvid = models.CharField(max_length=12)
    page = models.PositiveIntegerField(default=1)
    part = models.ForeignKey(
        VideoPart, on_delete=models.SET_NULL, null=True, blank=True, related_name="collection_items"
    )
    title = models.CharField(max_length=500, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    # Why the item failed, as an error code and its params (videos.errors); rendered when shown.
    error_code = models.CharField(max_length=64, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "position"], name="collectionitem_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.collection_id} #{self.position} {self.bvid} p{self.page}"

    def error_text(self, language: str | None = None) -> str:
        """Why the item failed, in `language` (the active one by default); "" when it did not."""
        return stored_error_message(self.error_code, self.error_params, language)


class BilibiliLogin(models.Model):
    """The server's Bilibili account, logged in by QR in the admin (videos.bilibili_login).

    One row at most. The cookies (SESSDATA, bili_jct, …) and the refresh token are stored only
    encrypted (videos.secrets); `state` is what `nav` said when it was last asked.
    """

    class State(models.TextChoices):
        VALID = "valid", "有效 valid"
        EXPIRED = "expired", "已过期 expired"
        UNKNOWN = "unknown", "未知 unknown (nav could not be asked)"

    cookies_encrypted = models.TextField(help_text="Fernet token of the cookies as JSON")
    refresh_token_encrypted = models.TextField(blank=True)
    mid = models.BigIntegerField(null=True, blank=True)
    uname = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.UNKNOWN)
    checked_at = models.DateTimeField(null=True, blank=True)
    logged_in_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Bilibili login"

    def __str__(self) -> str:
        return f"{self.uname or self.mid or 'Bilibili'} ({self.state})"
