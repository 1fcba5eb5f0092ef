from django.contrib import admin

from videos.models import Chunk, Video, VideoPart


class VideoPartInline(admin.TabularInline):
    model = VideoPart
    extra = 0
    fields = ["page", "cid", "title", "duration_seconds", "stage", "progress_percent", "error_message"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ["bvid", "title", "owner_name", "duration_seconds", "created_at"]
    search_fields = ["bvid", "title"]
    inlines = [VideoPartInline]


@admin.register(VideoPart)
class VideoPartAdmin(admin.ModelAdmin):
    list_display = ["video", "page", "title", "stage", "progress_percent", "updated_at"]
    list_filter = ["stage", "transcript_source"]
    search_fields = ["video__bvid", "video__title", "title"]


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["part", "ordinal", "start_ms", "end_ms", "token_count", "embedding_model"]
    search_fields = ["part__video__bvid"]
    exclude = ["embedding", "search_vector"]
    readonly_fields = ["part", "ordinal", "start_ms", "end_ms", "text", "token_count", "embedding_model"]
