"""Everything generated from a video: conversations, summaries, comment drafts and LLM usage."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.errors import stored_error_message
from videos.models import Collection, VideoPart


class Conversation(models.Model):
    """A chat about one part, or across the videos of a collection or of the user's whole library."""

    class Scope(models.TextChoices):
        PART = "part", "单个视频 one video"
        COLLECTION = "collection", "合集 collection"
        LIBRARY = "library", "资料库 library"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.PART)
    part = models.ForeignKey(VideoPart, on_delete=models.CASCADE, related_name="conversations", null=True, blank=True)
    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="conversations", null=True, blank=True
    )
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="conversation_user_recent")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(scope="part", part__isnull=False, collection__isnull=True)
                    | models.Q(scope="collection", part__isnull=True, collection__isnull=False)
                    | models.Q(scope="library", part__isnull=True, collection__isnull=True)
                ),
                name="conversation_scope_target",
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "用户 user"
        ASSISTANT = "assistant", "助手 assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming", "生成中 streaming"
        COMPLETE = "complete", "完成 complete"
        INTERRUPTED = "interrupted", "已中断 interrupted"
        FAILED = "failed", "失败 failed"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    # [{"chunk_id": 1, "start_ms": 0, "end_ms": 1000}, ...]
    citations = models.JSONField(default=list, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    # Why an answer failed or stopped: a code of chat.errors and its params, rendered when read.
    error_code = models.CharField(max_length=64, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    # Written without an LLM (offline mode): the answer quotes retrieved excerpts.
    offline = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def error(self) -> str:
        """Why the answer failed or stopped, in the active language ("" when it did not)."""
        return stored_error_message(self.error_code, self.error_params)


class UsageRecord(models.Model):
    """One LLM call: who caused it, what for, and what it cost. Quotas read these rows."""

    class Purpose(models.TextChoices):
        SUMMARY = "summary", "摘要 summary"
        SUMMARY_MAP = "summary_map", "分段摘要 summary map"
        SUMMARY_REDUCE = "summary_reduce", "摘要合并 summary reduce"
        SUMMARY_CHAPTERS = "summary_chapters", "章节 summary chapters"
        COMMENTS = "comments", "评论草稿 comment drafts"
        CHAT = "chat", "对话 chat"
        OTHER = "other", "其他 other"

    class Status(models.TextChoices):
        COMPLETE = "complete", "完成 complete"
        INTERRUPTED = "interrupted", "已中断 interrupted"
        FAILED = "failed", "失败 failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="llm_usage"
    )
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    model = models.CharField(max_length=200)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # True when the provider reported no usage and the tokens were counted with tiktoken.
    tokens_estimated = models.BooleanField(default=False)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)
    total_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"], name="usagerecord_user_time")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.model} {self.prompt_tokens}+{self.completion_tokens}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Summary(models.Model):
    """A part's summary, cached per (part, language, prompt version, model).

    One row per key: the request that creates (or takes over) the row generates it, every other
    request follows that generation through the channel layer. `generation_id` names the
    current run and `heartbeat_at` is its last sign of life (a stale run is taken over).
    """

    class Status(models.TextChoices):
        GENERATING = "generating", "生成中 generating"
        COMPLETE = "complete", "完成 complete"
        INTERRUPTED = "interrupted", "已中断 interrupted"
        FAILED = "failed", "失败 failed"

    class Language(models.TextChoices):
        ZH = "zh", "中文 Chinese"
        EN = "en", "英文 English"
        AUTO = "auto", "自动 auto"

    part = models.ForeignKey(VideoPart, on_delete=models.CASCADE, related_name="summaries")
    language = models.CharField(max_length=8, choices=Language.choices)
    prompt_version = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    # The summary style ("standard", "brief", ... or a custom template's key): part of the cache key.
    style = models.CharField(max_length=64, default="standard")
    offline = models.BooleanField(default=False, help_text="Extractive, made without an LLM")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GENERATING)
    content = models.TextField(blank=True, help_text="Markdown, as streamed")
    # [{"start_ms": 0, "text": "…"}, ...]: the key points, each at a real chunk start.
    key_points = models.JSONField(default=list, blank=True)
    # [{"start_ms", "end_ms", "count", "ratio", "texts": [[text, count], ...]}, ...]
    highlights = models.JSONField(default=list, blank=True)
    # [{"start_ms", "end_ms", "title", "gist", "source"}, ...]: tiles the part from 0 to its end
    # (chat.chapters). While a long part is generating: its sections so far (chat.summaries.sections).
    chapters = models.JSONField(default=list, blank=True)
    # "single", "map_reduce" or "extractive"
    mode = models.CharField(max_length=16, blank=True)
    llm_calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Why it failed (or why a regeneration was dropped): a code of chat.errors and its params.
    error_code = models.CharField(max_length=64, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    generation_id = models.CharField(max_length=32, blank=True)
    # The last complete version while a regeneration runs; put back if the regeneration fails.
    previous = models.JSONField(default=dict, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name_plural = "summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["part", "language", "prompt_version", "model", "style"], name="summary_unique_cache_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.part} {self.language} {self.prompt_version} {self.model} ({self.status})"

    @property
    def is_complete(self) -> bool:
        return self.status == self.Status.COMPLETE

    @property
    def error(self) -> str:
        """Why it failed (or why a regeneration was dropped), in the active language; "" if nothing."""
        return stored_error_message(self.error_code, self.error_params)

    def to_dict(self) -> dict:
        return {
            "id": self.pk,
            "part_id": self.part_id,
            "language": self.language,
            "prompt_version": self.prompt_version,
            "model": self.model,
            "style": self.style,
            "offline": self.offline,
            "status": self.status,
            "mode": self.mode,
            "content": self.content,
            "key_points": self.key_points,
            "highlights": self.highlights,
            "chapters": self.chapters,
            "llm_calls": self.llm_calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "error": self.error,
            "error_code": self.error_code,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }


class CommentDraftSet(models.Model):
    """Comment drafts for a part in one tone. Drafts are suggestions: nothing is ever posted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="comment_drafts"
    )
    part = models.ForeignKey(VideoPart, on_delete=models.CASCADE, related_name="comment_drafts")
    summary = models.ForeignKey(Summary, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tone = models.CharField(max_length=16)
    drafts = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=200)
    offline = models.BooleanField(default=False, help_text="Made from highlights and key sentences, without an LLM")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.part} {self.tone} ({len(self.drafts)} drafts)"

    def to_dict(self) -> dict:
        return {
            "id": self.pk,
            "part_id": self.part_id,
            "tone": self.tone,
            "drafts": self.drafts,
            "model": self.model,
            "offline": self.offline,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


class ApiToken(models.Model):
    """A personal API token. Only the SHA-256 of the secret is stored; the secret is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters of the secret ("cbt_AbCd"), so a user can tell tokens apart.
    prefix = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class UserQuota(models.Model):
    """Per-user overrides of the quota settings; an empty field means the site default."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quota")
    daily_token_budget = models.PositiveIntegerField(
        null=True, blank=True, help_text="LLM tokens per day (empty: the QUOTA_DAILY_TOKENS setting; 0: unlimited)"
    )
    requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="LLM requests per minute (empty: the QUOTA_REQUESTS_PER_MINUTE setting; 0: unlimited)",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user quota"

    def __str__(self) -> str:
        return f"quota of {self.user}"


class QuotaReservation(models.Model):
    """A request the generation gate admitted and that is still running (see chat.quotas).

    The per-minute request limit counts these rows along with the usage records, so a burst of
    simultaneous requests cannot all pass before any of them has written its usage. The gate
    deletes the row when the stream ends; from then on the stream's usage records count.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=32, choices=UsageRecord.Purpose.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="quotareservation_user_time")]

    def __str__(self) -> str:
        return f"{self.purpose} reserved by {self.user_id} at {self.created_at:%H:%M:%S}"


class SummaryTemplate(models.Model):
    """A user's own summary style: instructions for a custom section (see chat.styles).

    Only its owner can see, use or delete it. A summary made with it is cached under
    "custom:<id>:<hash of the instructions>", so editing the instructions makes a new entry.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="summary_templates")
    name = models.CharField(max_length=100)
    instructions = models.TextField(help_text="Placeholders: {title}, {part_title}, {language}; {{ and }} for braces")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner_id})"


class SeriesSummary(models.Model):
    """A collection's overview, made from its videos' summaries (chat.series), cached per key:
    collection, language, prompt version, model and `inputs_key` (which video summaries it read)."""

    class Status(models.TextChoices):
        GENERATING = "generating", "生成中 generating"
        COMPLETE = "complete", "完成 complete"
        FAILED = "failed", "失败 failed"

    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="series_summaries")
    language = models.CharField(max_length=8)
    prompt_version = models.CharField(max_length=32)
    model = models.CharField(max_length=200)
    inputs_key = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.GENERATING)
    content = models.TextField(blank=True, help_text="Markdown with [V<part id> mm:ss] labels")
    # [{"part_id", "bvid", "page", "video_title", "part_title", "start_ms", "label", "url"}, ...]
    links = models.JSONField(default=list, blank=True)
    # [{"part_id", "bvid", "page", "video_title", "summary_id"}, ...]: the summaries it was made from
    videos = models.JSONField(default=list, blank=True)
    offline = models.BooleanField(default=False)
    llm_calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name_plural = "series summaries"
        constraints = [
            models.UniqueConstraint(
                fields=["collection", "language", "prompt_version", "model", "inputs_key"],
                name="seriessummary_unique_cache_key",
            ),
        ]

    def __str__(self) -> str:
        return f"series {self.collection_id} {self.language} ({self.status})"

    @property
    def error(self) -> str:
        return stored_error_message(self.error_code, self.error_params)

    def to_dict(self) -> dict:
        return {
            "id": self.pk,
            "collection_id": self.collection_id,
            "language": self.language,
            "status": self.status,
            "content": self.content,
            "links": self.links,
            "videos": self.videos,
            "offline": self.offline,
            "llm_calls": self.llm_calls,
            "error": self.error,
            "error_code": self.error_code,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
        }
