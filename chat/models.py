"""Everything generated from a video: conversations and their messages."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from videos.models import VideoPart


class Conversation(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations")
    part = models.ForeignKey(VideoPart, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"], name="conversation_user_recent")]

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
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["conversation", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"
