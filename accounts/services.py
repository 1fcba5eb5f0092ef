"""Writes of accounts: sign-up (in each SIGNUP_MODE), invites, e-mail verification, signing out
everywhere and deleting an account."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core import signing
from django.core.mail import send_mail
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import EMAIL_LINK_INVALID, SIGNUP_CLOSED, SIGNUP_INVITE_REQUIRED, SIGNUP_THROTTLED
from accounts.models import Invite, SignupRecord, UserSession
from accounts.selectors import SIGNUP_WINDOW, signups_recent
from chat.models import UserQuota
from core.errors import AppError

EMAIL_SALT = "accounts.email-verification"
EMAIL_LINK_MAX_AGE = timedelta(days=3)


@dataclass(frozen=True)
class SignUp:
    username: str
    password: str
    email: str = ""
    ip_address: str | None = None
    invite_code: str = ""


def email_verification_on() -> bool:
    """New accounts confirm their e-mail first: open sign-up with SIGNUP_EMAIL_VERIFICATION on."""
    return settings.SIGNUP_MODE == "open" and settings.SIGNUP_EMAIL_VERIFICATION


def signup_allowed(*, ip_address: str | None, invite_code: str = "") -> None:
    """Raise AppError when the site's mode refuses this sign-up: signup_closed (403),
    signup_invite_required (403), or signup_throttled (429 with retry_after)."""
    mode = settings.SIGNUP_MODE
    if mode == "closed":
        raise AppError(SIGNUP_CLOSED)
    if mode == "invite":
        invite = Invite.objects.filter(code=invite_code).first() if invite_code else None
        if invite is None or not invite.is_usable:
            raise AppError(SIGNUP_INVITE_REQUIRED)
        return
    limit = settings.SIGNUPS_PER_ADDRESS_PER_HOUR
    recent = signups_recent(ip_address=ip_address)
    if limit and len(recent) >= limit:
        wait = max(1, math.ceil((recent[0] + SIGNUP_WINDOW - timezone.now()).total_seconds()))
        raise AppError(SIGNUP_THROTTLED, retry_after=wait, limit=limit, minutes=math.ceil(wait / 60))


@transaction.atomic
def account_sign_up(*, signup: SignUp) -> Any:
    """Create the account if the mode allows it (see `signup_allowed`, checked again under a lock
    on the client address so a burst cannot pass the hourly limit). The account starts with
    QUOTA_NEW_ACCOUNT_DAILY_TOKENS when that is set, and inactive until its e-mail is confirmed
    when `email_verification_on()`. An invite is used up."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"accounts.signup:{signup.ip_address}"])
    signup_allowed(ip_address=signup.ip_address, invite_code=signup.invite_code)
    user = get_user_model().objects.create_user(signup.username, email=signup.email, password=signup.password)
    if email_verification_on():
        user.is_active = False
        user.save(update_fields=["is_active"])
    if settings.SIGNUP_MODE == "invite":
        now = timezone.now()
        used = Invite.objects.filter(code=signup.invite_code, used_at=None, expires_at__gt=now)
        if not used.update(used_at=now, used_by=user):  # a simultaneous sign-up took it
            raise AppError(SIGNUP_INVITE_REQUIRED)
    SignupRecord.objects.create(ip_address=signup.ip_address, user=user)
    if settings.QUOTA_NEW_ACCOUNT_DAILY_TOKENS is not None:
        UserQuota.objects.create(user=user, daily_token_budget=settings.QUOTA_NEW_ACCOUNT_DAILY_TOKENS)
    return user


def invite_create(*, created_by: Any, note: str = "", days: int | None = None) -> Invite:
    """A single-use invite that expires after `days` (INVITE_VALID_DAYS by default)."""
    valid = timedelta(days=days if days is not None else settings.INVITE_VALID_DAYS)
    return Invite.objects.create(created_by=created_by, note=note[:200], expires_at=timezone.now() + valid)


def email_verification_send(*, user: Any, base_url: str) -> None:
    """Mail the user a link that activates the account (valid EMAIL_LINK_MAX_AGE)."""
    token = signing.dumps({"user": user.pk, "email": user.email}, salt=EMAIL_SALT)
    link = f"{base_url}/accounts/verify-email/{token}/"
    subject = _("ChatBili：请确认你的邮箱")
    body = _("你好 %(name)s，\n\n打开这个链接确认邮箱并启用账号（3 天内有效）：\n%(link)s\n") % {
        "name": user.username,
        "link": link,
    }
    send_mail(subject, body, None, [user.email])


@transaction.atomic
def email_verification_confirm(*, token: str) -> Any:
    """Activate the account a verification link names; AppError email_link_invalid otherwise."""
    try:
        data = signing.loads(token, salt=EMAIL_SALT, max_age=EMAIL_LINK_MAX_AGE)
    except signing.BadSignature:
        raise AppError(EMAIL_LINK_INVALID) from None
    user = get_user_model().objects.filter(pk=data.get("user"), email=data.get("email")).first()
    if user is None:
        raise AppError(EMAIL_LINK_INVALID)
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
    return user


def user_session_record(*, user: Any, session_key: str | None) -> None:
    """Remember a session the user signed in with (for `sessions_end_all`)."""
    if session_key:
        UserSession.objects.create(user=user, session_key=session_key)


@transaction.atomic
def sessions_end_all(*, user: Any) -> int:
    """End every session the user signed in with; returns how many were still open."""
    keys = list(UserSession.objects.filter(user=user).values_list("session_key", flat=True))
    ended, _ = Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(user=user).delete()
    return ended


@transaction.atomic
def account_delete(*, user: Any) -> None:
    """Delete the account with its sessions, conversations, API tokens, templates and quota.
    Its usage records stay, without a user, so the site's spend today stays right."""
    sessions_end_all(user=user)
    user.delete()
