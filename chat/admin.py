"""Admin for what is generated and for access: summaries, conversations, usage, tokens, quotas.

The video admin from `videos.admin` is re-registered here with what only chat knows: tokens
spent on each video, regenerating summaries, and purging generated data along with the chunks.
Series summaries (a collection's overview) are regenerated the same way, through the gate.
Generated rows, conversations and usage are read-only; tokens can only be revoked.
"""

from __future__ import annotations

from collections.abc import Awaitable

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.db.models import Count, F, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from chat.budget import site_spend_today
from chat.gate import GateStream, SeriesSummaryOrder, SummaryOrder, generation_open, library_generation_open
from chat.models import (
    ApiToken,
    CommentDraftSet,
    Conversation,
    Message,
    SeriesSummary,
    Summary,
    SummaryTemplate,
    UsageRecord,
    UserQuota,
)
from chat.quotas import day_bounds
from chat.series import OPERATOR
from chat.services.api_tokens import api_tokens_revoke
from chat.services.generated import video_generated_purge
from chat.styles import CUSTOM_PREFIX, STYLES, style_name, style_request
from core.errors import AppError
from videos.admin import VideoAdmin
from videos.models import Video


class ReadOnlyAdmin(admin.ModelAdmin):
    """Generated rows are written by the services only; the admin shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


# --- videos, with what chat knows about them ------------------------------------------------------


async def summaries_regenerate(keys: list[tuple[str, int, str, str]]) -> dict[str, int]:
    """Regenerate each (bvid, page, language, style key) summary through the generation gate, as the
    operator (no quota), one after another. Returns how many ended with each outcome: "done" or an error code."""
    outcomes: dict[str, int] = {}
    for bvid, page, language, style in keys:
        order = SummaryOrder(language, True, style=style_request(style))
        outcome = await _outcome(generation_open(user=None, bvid=bvid, page=page, order=order))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


async def series_summaries_regenerate(keys: list[tuple[int, str]]) -> dict[str, int]:
    """Regenerate each (collection id, language) series summary through the generation gate, as the
    operator (chat.series.OPERATOR: any collection, no quota), one after another; outcomes as above."""
    outcomes: dict[str, int] = {}
    for collection_id, language in keys:
        order = SeriesSummaryOrder(collection_id, language, regenerate=True)
        outcome = await _outcome(library_generation_open(user=OPERATOR, order=order))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


async def _outcome(opening: Awaitable[GateStream]) -> str:
    """Open one generation and read it to its end: "done", or the error code it was refused or failed with."""
    try:
        outcome = "incomplete"
        async for event in await opening:
            if event["type"] in ("done", "error"):
                outcome = "done" if event["type"] == "done" else event["code"]
    except AppError as exc:
        outcome = exc.code
    return outcome


def _outcomes_text(outcomes: dict[str, int], total: int, what: str) -> tuple[str, int]:
    """`regenerated 3 of 4 summaries; failed: llm_failed ×1` and its message level."""
    failed = {outcome: count for outcome, count in outcomes.items() if outcome != "done"}
    text = f"regenerated {outcomes.get('done', 0)} of {total} {what}"
    if failed:
        text += "; failed: " + ", ".join(f"{code} ×{count}" for code, count in sorted(failed.items()))
    return text, messages.WARNING if failed else messages.SUCCESS


def _tokens_spent(rows: QuerySet, video_path: str) -> Coalesce:
    """Prompt + completion tokens of `rows` on the outer video (`video_path` leads to it)."""
    total = (
        rows.filter(**{video_path: OuterRef("pk")})
        .order_by()
        .values(video_path)
        .annotate(total=Sum(F("prompt_tokens") + F("completion_tokens")))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


admin.site.unregister(Video)


@admin.register(Video)
class VideoWithGenerationsAdmin(VideoAdmin):
    list_display = [*VideoAdmin.list_display[:-1], "tokens_spent", "created_at"]
    actions = ["reingest", "regenerate_summaries", "purge"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Video]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                tokens_total=_tokens_spent(Summary.objects.all(), "part__video")
                + _tokens_spent(CommentDraftSet.objects.all(), "part__video")
                + _tokens_spent(Message.objects.all(), "conversation__part__video")
            )
        )

    @admin.display(description="LLM tokens spent", ordering="tokens_total")
    def tokens_spent(self, video: Video) -> int:
        """Summaries, comment drafts and chat answers on this video's parts."""
        return video.tokens_total

    @admin.action(description="Regenerate summaries (each cached one again, now; this waits for them)")
    def regenerate_summaries(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        summaries = Summary.objects.filter(part__video__in=queryset).order_by("part__video__bvid", "part__page")
        keys = list(summaries.values_list("part__video__bvid", "part__page", "language", "style").distinct())
        outcomes = async_to_sync(summaries_regenerate)(keys)
        self.message_user(request, *_outcomes_text(outcomes, len(keys), "summaries"))

    @admin.action(description="Purge cached data (chunks, transcripts, summaries, comment drafts)")
    def purge(self, request: HttpRequest, queryset: QuerySet[Video]) -> None:
        purged = video_generated_purge(video_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"purged {purged} parts (parts being ingested were skipped)", messages.SUCCESS)


# --- conversations ----------------------------------------------------------------------------------


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["role", "status", "content", "prompt_tokens", "completion_tokens", "offline", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "part", "title", "updated_at"]
    search_fields = ["title", "user__username", "part__video__bvid"]
    list_select_related = ["user", "part__video"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "conversation",
        "role",
        "status",
        "offline",
        "prompt_tokens",
        "completion_tokens",
        "created_at",
    ]
    list_filter = ["role", "status", "offline"]
    search_fields = ["content", "conversation__user__username"]
    list_select_related = ["conversation"]


# --- generated --------------------------------------------------------------------------------------


class SummaryStyleFilter(admin.SimpleListFilter):
    """Summaries by style (every custom template together), each choice with its usage:
    how many summaries and how many LLM tokens they took."""

    title = "style (summaries, LLM tokens)"
    parameter_name = "style"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        usage = {name: [0, 0] for name in [*STYLES, "custom"]}
        rows = Summary.objects.values("style").annotate(
            count=Count("id"), tokens=Coalesce(Sum(F("prompt_tokens") + F("completion_tokens")), Value(0))
        )
        for row in rows.order_by():
            totals = usage.setdefault(style_name(row["style"]), [0, 0])
            totals[0] += row["count"]
            totals[1] += row["tokens"]
        return [(name, f"{name} ({count}, {tokens:,})") for name, (count, tokens) in usage.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Summary]) -> QuerySet[Summary]:
        if self.value() == "custom":
            return queryset.filter(style__startswith=CUSTOM_PREFIX)
        return queryset.filter(style=self.value()) if self.value() else queryset


@admin.register(Summary)
class SummaryAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "part", "language", "style", "model", "prompt_version", "status", "offline", "llm_calls", "tokens",
        "updated_at",
    ]  # fmt: skip
    list_filter = [SummaryStyleFilter, "status", "offline", "language", "model"]
    search_fields = ["part__video__bvid", "part__video__title"]

    @admin.display(description="LLM tokens", ordering="prompt_tokens")
    def tokens(self, summary: Summary) -> int:
        return summary.prompt_tokens + summary.completion_tokens


@admin.register(SeriesSummary)
class SeriesSummaryAdmin(ReadOnlyAdmin):
    """A collection's overviews (chat.series), one per cache key. Read-only like the video summaries;
    the action regenerates them now (chat.series as the operator, through the gate)."""

    list_display = [
        "id", "collection", "owner", "language", "model", "prompt_version", "status", "offline", "llm_calls",
        "tokens", "updated_at",
    ]  # fmt: skip
    list_filter = ["language", ("collection", admin.RelatedOnlyFieldListFilter), "status", "offline", "model"]
    list_select_related = ["collection__owner"]
    search_fields = ["collection__title", "collection__owner__username"]
    actions = ["regenerate"]

    @admin.display(description="owner", ordering="collection__owner__username")
    def owner(self, series: SeriesSummary) -> str:
        return series.collection.owner.get_username()

    @admin.display(description="LLM tokens", ordering="prompt_tokens")
    def tokens(self, series: SeriesSummary) -> int:
        return series.prompt_tokens + series.completion_tokens

    @admin.action(description="Regenerate (each collection's overview in that language again, now; this waits)")
    def regenerate(self, request: HttpRequest, queryset: QuerySet[SeriesSummary]) -> None:
        """Through the gate as the operator, from the collection's current video summaries (so with the
        current model and prompt: a new row where those changed). One being generated is skipped."""
        generating = queryset.filter(status=SeriesSummary.Status.GENERATING).count()
        rows = queryset.exclude(status=SeriesSummary.Status.GENERATING).order_by("collection_id", "language")
        keys = list(rows.values_list("collection_id", "language").distinct())
        text, level = _outcomes_text(async_to_sync(series_summaries_regenerate)(keys), len(keys), "series summaries")
        if generating:
            text, level = f"{text} ({generating} being generated were skipped)", messages.WARNING
        self.message_user(request, text, level)


@admin.register(SummaryTemplate)
class SummaryTemplateAdmin(ReadOnlyAdmin):
    """Users' custom summary styles (their summaries: the style filter's "custom")."""

    list_display = ["id", "name", "owner", "created_at", "updated_at"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]


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
    change_list_template = "admin/chat/usagerecord/change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        """Above the list: what the whole site spent today against its daily budget (chat.budget)."""
        return super().changelist_view(request, {**(extra_context or {}), "site_spend": site_spend_today()})


# --- access -----------------------------------------------------------------------------------------


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        if self.value() in ("active", "revoked"):
            return queryset.filter(revoked_at__isnull=self.value() == "active")
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are made by their users (the secret is never stored); admins can only revoke them."""

    list_display = ["prefix", "name", "user", "created_at", "last_used_at", "revoked_at"]
    list_filter = [TokenStateFilter]
    search_fields = ["user__username", "name", "prefix"]
    list_select_related = ["user"]
    fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        revoked = api_tokens_revoke(tokens=queryset)
        self.message_user(request, f"revoked {revoked} tokens", messages.SUCCESS)


@admin.register(UserQuota)
class UserQuotaAdmin(admin.ModelAdmin):
    """Per-user overrides of QUOTA_DAILY_TOKENS and QUOTA_REQUESTS_PER_MINUTE (empty: default, 0: none)."""

    list_display = ["user", "daily_token_budget", "requests_per_minute", "used_today", "updated_at"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[UserQuota]:
        day_start, _ = day_bounds(timezone.now())
        today = (
            UsageRecord.objects.filter(user=OuterRef("user"), created_at__gte=day_start)
            .order_by()
            .values("user")
            .annotate(total=Sum(F("prompt_tokens") + F("completion_tokens")))
            .values("total")
        )
        return super().get_queryset(request).annotate(tokens_today=Coalesce(Subquery(today), Value(0)))

    @admin.display(description="tokens used today", ordering="tokens_today")
    def used_today(self, quota: UserQuota) -> int:
        return quota.tokens_today
