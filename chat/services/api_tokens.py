"""Writes of personal API tokens (`Authorization: Bearer cbt_…`); reads are in chat.selectors.

A token's secret is `cbt_` plus 43 random URL-safe characters. It is shown once, when created;
only its SHA-256 is stored (a fast hash is enough for 256 random bits), together with its first
characters for display. Revoking sets `revoked_at`; a revoked token authenticates no one.
`last_used_at` is written at most once a minute per token, so a busy client costs no write per
request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from chat.errors import TOKEN_NOT_FOUND
from chat.models import ApiToken
from core.errors import AppError

TOKEN_PREFIX = "cbt_"  # noqa: S105 - the public marker of a token, not a secret
DISPLAY_PREFIX_LENGTH = 12
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user: Any, name: str) -> tuple[ApiToken, str]:
    """A new token for the user, and its secret: the only time the secret is available."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    name = " ".join(name.split())[:100] or "API token"
    prefix = raw[:DISPLAY_PREFIX_LENGTH]
    token = ApiToken.objects.create(user=user, name=name, token_hash=token_hash(raw), prefix=prefix)
    return token, raw


def api_token_revoke(*, user: Any, token_id: int) -> None:
    """Revoke one of the user's tokens (again is fine); AppError token_not_found (404) for anyone else's."""
    token = ApiToken.objects.filter(pk=token_id, user=user).first()
    if token is None:
        raise AppError(TOKEN_NOT_FOUND)
    if token.revoked_at is None:
        ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())


def api_tokens_revoke(*, tokens: QuerySet[ApiToken]) -> int:
    """Revoke the live tokens among `tokens` (the admin's action); returns how many."""
    return tokens.filter(revoked_at=None).update(revoked_at=timezone.now())


def api_token_authenticate(raw: str) -> Any | None:
    """The active user a live token belongs to, or None. Records when the token was used."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=token_hash(raw), revoked_at=None, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
