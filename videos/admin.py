"""Admin for the cached videos: status, parts, chunks; re-ingest and purge.

`chat.admin` extends `VideoAdmin` with what chat knows (tokens spent, regenerating summaries),
so that `videos` never imports `chat`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest

from core.errors import stored_error_message
from videos.models import Chunk, Collection, CollectionItem, Video, VideoPart
from videos.services import video_cache_purge
from videos.submission import collection_retry_failed_enqueue, video_parts_reingest

__all__ = ["VideoAdmin", "video_cache_purge"]

Stage = VideoPart.Stage


class PartStageFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("ready", "all parts ready"), ("in_progress", "some part in progress"), ("failed", "some part failed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Video]) -> QuerySet[Video]:
        in_progress = [Stage.QUEUED, Stage.METADATA, Stage.TRANSCRIPT, Stage.CHUNKS, Stage.EMBEDDINGS]
        if self.value() == "ready":
            return queryset.exclude(parts__stage__in=[*in_progress, Stage.FAILED]).filter(parts__isnull=False)
        if self.value() == "in_progress":
            return queryset.filter(parts__stage__in=in_progress).distinct()
        if self.value() == "failed":
            return queryset.filter(parts__stage=Stage.FAILED).distinct()
        return queryset


class VideoPartInline(admin.TabularInline):
    model = VideoPart
    extra = 0
    fields = ["page", "title", "duration_seconds", "stage", "progress_percent", "chunk_count", "error"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[VideoPart]:
        return super().get_queryset(request).annotate(chunk_total=Count("chunks"))

    @admin.display(description="chunks")
    def chunk_count(self, part: VideoPart) -> int:
        return part.chunk_total

    @admin.display(description="error")
    def error(self, part: VideoPart) -> str:
        return part.error_text()


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ["bvid", "title", "status", "duration", "chunk_count", "last_error", "created_at"]
    list_filter = [PartStageFilter, "parts__transcript_source", "created_at"]
    search_fields = ["bvid", "title"]
    readonly_fields = ["bvid", "aid", "owner_mid", "owner_name", "duration_seconds", "published_at", "stats"]
    inlines = [VideoPartInline]
    actions = ["reingest", "purge"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Video]:
        failed_parts = VideoPart.objects.filter(video=OuterRef("pk")).exclude(error_code="").order_by("-updated_at")
        chunks = (
            Chunk.objects.filter(part__video=OuterRef("pk"))
            .order_by()
            .values("part__video")
            .annotate(total=Count("pk"))
            .values("total")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                part_total=Count("parts", distinct=True),
                ready_total=Count("parts", filter=Q(parts__stage=Stage.READY), distinct=True),
                failed_total=Count("parts", filter=Q(parts__stage=Stage.FAILED), distinct=True),
                chunk_total=Subquery(chunks),
                last_error_code=Subquery(failed_parts.values("error_code")[:1]),
                last_error_params=Subquery(failed_parts.values("error_params")[:1]),
            )
        )

    @admin.display(description="status (parts)", ordering="ready_total")
    def status(self, video: Video) -> str:
        text = f"{video.ready_total}/{video.part_total} ready"
        return f"{text}, {video.failed_total} failed" if video.failed_total else text

    @admin.display(description="duration", ordering="duration_seconds")
    def duration(self, video: Video) -> str:
        minutes, seconds = divmod(video.duration_seconds, 60)
        return f"{minutes}:{seconds:02d}"

    @admin.display(description="chunks", ordering=F("chunk_total").asc(nulls_first=True))
    def chunk_count(self, video: Video) -> int:
        return video.chunk_total or 0

    @admin.display(description="last error")
    def last_error(self, video: Video) -> str:
        return stored_error_message(video.last_error_code or "", video.last_error_params)[:120]

    @admin.action(description="Re-ingest all parts")
    def reingest(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        queued = video_parts_reingest(video_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{queued} parts queued for ingestion", messages.SUCCESS)

    @admin.action(description="Purge cached data (chunks, transcripts)")
    def purge(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        purged = video_cache_purge(video_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"purged {purged} parts (parts being ingested were skipped)", messages.SUCCESS)


class ChunkInline(admin.TabularInline):
    model = Chunk
    extra = 0
    fields = ["ordinal", "start_ms", "end_ms", "token_count", "text", "embedding_model"]
    readonly_fields = fields
    can_delete = False
    ordering = ["ordinal"]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(VideoPart)
class VideoPartAdmin(admin.ModelAdmin):
    list_display = ["video", "page", "title", "stage", "progress_percent", "duration_seconds", "updated_at"]
    list_filter = ["stage", "transcript_source"]
    search_fields = ["video__bvid", "video__title", "title"]
    exclude = ["transcript_cues", "danmaku", "error_code", "error_params"]
    readonly_fields = [
        "video",
        "page",
        "cid",
        "duration_seconds",
        "error",
        "claimed_by",
        "heartbeat_at",
        "ingested_at",
    ]
    inlines = [ChunkInline]

    @admin.display(description="error")
    def error(self, part: VideoPart) -> str:
        return part.error_text()


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["part", "ordinal", "start_ms", "end_ms", "token_count", "embedding_model"]
    search_fields = ["part__video__bvid"]
    exclude = ["embedding", "search_vector"]
    readonly_fields = ["part", "ordinal", "start_ms", "end_ms", "text", "token_count", "embedding_model"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# --- collections --------------------------------------------------------------------------------------


class CollectionItemInline(admin.TabularInline):
    model = CollectionItem
    fields = ("position", "bvid", "page", "title", "state", "error", "part", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="error")
    def error(self, item: CollectionItem) -> str:
        return item.error_text()


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "owner", "items_state", "item_cap_reached", "created_at")
    list_filter = ("kind", "item_cap_reached")
    search_fields = ("title", "source_id", "owner__username", "uploader_name")
    readonly_fields = ("owner", "kind", "source_id", "source_url", "claimed_by", "heartbeat_at", "created_at")
    inlines = [CollectionItemInline]
    actions = ["retry_failed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Collection]:
        items = {state: Count("items", filter=Q(items__state=state)) for state in ("ready", "failed")}
        return (
            super()
            .get_queryset(request)
            .select_related("owner")
            .annotate(item_total=Count("items"), ready_total=items["ready"], failed_total=items["failed"])
        )

    @admin.display(description="items (ready / failed / all)", ordering="ready_total")
    def items_state(self, collection: Collection) -> str:
        return f"{collection.ready_total} / {collection.failed_total} / {collection.item_total}"

    @admin.action(description="Retry failed items")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Collection]) -> None:
        retried = [collection_retry_failed_enqueue(collection_id=pk) for pk in queryset.values_list("pk", flat=True)]
        self.message_user(
            request, f"queued {sum(retried)} failed items again in {len(retried)} collections", messages.SUCCESS
        )


# --- the server's Bilibili login (QR) -------------------------------------------------------------------
from videos import admin_bilibili_login  # noqa: E402, F401 - registers BilibiliLoginAdmin
