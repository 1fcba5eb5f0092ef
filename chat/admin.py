from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chat.models import CommentDraftSet, Conversation, Message, Summary, UsageRecord


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["role", "status", "content", "prompt_tokens", "completion_tokens", "created_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "part", "title", "updated_at"]
    search_fields = ["title", "user__username", "part__video__bvid"]
    readonly_fields = ["user", "part", "title", "created_at", "updated_at"]
    inlines = [MessageInline]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Generated rows are written by the services only; the admin shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Summary)
class SummaryAdmin(ReadOnlyAdmin):
    list_display = ["id", "part", "language", "model", "prompt_version", "status", "offline", "llm_calls", "updated_at"]
    list_filter = ["status", "offline", "language", "model"]
    search_fields = ["part__video__bvid", "part__video__title"]


@admin.register(CommentDraftSet)
class CommentDraftSetAdmin(ReadOnlyAdmin):
    list_display = ["id", "part", "user", "tone", "offline", "model", "created_at"]
    list_filter = ["tone", "offline"]
    search_fields = ["part__video__bvid", "user__username"]


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user",
        "purpose",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "tokens_estimated",
        "time_to_first_token_ms",
        "total_ms",
        "status",
    ]
    list_filter = ["purpose", "status", "model", "tokens_estimated"]
    search_fields = ["user__username", "model"]
    date_hierarchy = "created_at"
