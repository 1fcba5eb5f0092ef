"""What accounts keeps: invitations, sign-ups by client address, and each sign-in's session."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def invite_code() -> str:
    return secrets.token_urlsafe(24)


class Invite(models.Model):
    """A single-use sign-up link made by an admin (SIGNUP_MODE=invite); it expires."""

    code = models.CharField(max_length=64, unique=True, default=invite_code, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="who it is for (shown only here)")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.note or f"invite {self.code[:6]}…"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class SignupRecord(models.Model):
    """One account made by sign-up, and the client address it came from (the open mode's throttle)."""

    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["ip_address", "created_at"], name="signup_ip_time")]

    def __str__(self) -> str:
        return f"sign-up from {self.ip_address}"


class UserSession(models.Model):
    """A session a user signed in with, so "sign out everywhere" can end them all."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"session of {self.user_id}"
