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
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
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
    """The active user a live token belongs to, or None. Records when the token was used.

    One query, nothing cached (a revoked token fails at once, in every process): the token joined
    with its user, as SQL written once (building it with the ORM cost ~1 ms a request)."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    sql, user_fields = _token_user_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, (token_hash(raw),))
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, last_used_at, *user_values = row
    now = timezone.now()
    if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
    return get_user_model().from_db(connection.alias, user_fields, user_values)


@cache
def _token_user_sql() -> tuple[str, tuple[str, ...]]:
    """The live token's id and last use, then its active user's columns; and those fields' names."""
    user_model = get_user_model()

    def t(name: str) -> str:
        return f't."{ApiToken._meta.get_field(name).column}"'

    def u(name: str) -> str:
        return f'u."{user_model._meta.get_field(name).column}"'

    user_fields = tuple(field.attname for field in user_model._meta.concrete_fields)
    user_columns = ", ".join(u(field.name) for field in user_model._meta.concrete_fields)
    sql = (
        f"SELECT {t('id')}, {t('last_used_at')}, {user_columns}"  # noqa: S608 - names from the models
        f' FROM "{ApiToken._meta.db_table}" t JOIN "{user_model._meta.db_table}" u'
        f" ON {u(user_model._meta.pk.name)} = {t('user')}"
        f" WHERE {t('token_hash')} = %s AND {t('revoked_at')} IS NULL AND {u('is_active')} LIMIT 1"
    )
    return sql, user_fields
