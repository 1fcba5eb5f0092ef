"""Reads of accounts: the sign-up throttle's count, invites, second factors."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_otp import user_has_device

from accounts.models import Invite, SignupRecord

SIGNUP_WINDOW = timedelta(hours=1)


def signups_recent(*, ip_address: str | None, now: datetime | None = None) -> list[datetime]:
    """When the accounts signed up from this address in the last hour were made, oldest first."""
    since = (now or timezone.now()) - SIGNUP_WINDOW
    rows = SignupRecord.objects.filter(ip_address=ip_address, created_at__gt=since).order_by("created_at")
    return list(rows.values_list("created_at", flat=True))


def invite_usable(*, code: str) -> Invite | None:
    """The unused, unexpired invite with this code, or None."""
    invite = Invite.objects.filter(code=code).first() if code else None
    return invite if invite is not None and invite.is_usable else None


def invite_link(invite: Invite, *, base: str = "") -> str:
    return f"{base}/accounts/signup/?invite={invite.code}"


def user_has_mfa(user: Any) -> bool:
    """The user has a confirmed second factor (a TOTP app or recovery codes)."""
    return bool(user is not None and user.is_authenticated and user_has_device(user, confirmed=True))


def mfa_required_for(user: Any) -> bool:
    """Staff must use a second factor when ADMIN_MFA_REQUIRED is set."""
    return bool(settings.ADMIN_MFA_REQUIRED and user.is_staff)
