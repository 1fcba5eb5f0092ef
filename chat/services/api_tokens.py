"""Writes of personal API tokens (`Authorization: Bearer cbt_…`); reads are in chat.selectors.

A token's secret is `cbt_` plus 43 random URL-safe characters. It is shown once, when created;
only its SHA-256 is stored (a fast hash is enough for 256 random bits), together with its first
characters for display. Revoking sets `revoked_at`; a revoked token authenticates no one.
`last_used_at` is written at most once a minute per token, so a busy client costs no write per
request.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
import weakref
from datetime import timedelta
from functools import cache
from typing import Any, Protocol

from django.contrib.auth import get_user_model
from django.db import NotSupportedError, ProgrammingError, connection, transaction
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


class JoinedRead(Protocol):
    """A read another module joins to the token check (chat.cached_summaries.SummaryRead): a SELECT
    of at most one row; `take` gets its values, all None when it found nothing."""

    sql: str
    params: tuple[Any, ...]

    def take(self, values: tuple[Any, ...]) -> None: ...


def api_token_authenticate(raw: str, *, read: JoinedRead | None = None) -> Any | None:
    """The active user a live token belongs to, or None. Records when the token was used.

    One query, nothing cached (a revoked token fails at once, in every process): the token joined
    with its user, as SQL written once (building it with the ORM cost ~1 ms a request). `read`, a
    read the request needs next, joins the same statement; it gets its row only for a live token."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    sql, user_fields = _token_user_sql(read.sql if read is not None else "")
    params = (*read.params, token_hash(raw)) if read is not None else (token_hash(raw),)
    with connection.cursor() as cursor:
        if read is not None:  # the API's hot read: planned once per connection
            _execute_prepared(cursor, sql, params)
        else:
            cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    token_id, last_used_at, *values = row
    now = timezone.now()
    if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token_id).update(last_used_at=now)
    if read is not None:
        read.take(tuple(values[len(user_fields) :]))
    return get_user_model().from_db(connection.alias, user_fields, values[: len(user_fields)])


@cache
def _token_user_sql(read_sql: str = "") -> tuple[str, tuple[str, ...]]:
    """The live token's id and last use, then its active user's columns, then those of `read_sql`
    (left-joined: NULLs when it finds nothing); and the user's field names."""
    user_model = get_user_model()

    def t(name: str) -> str:
        return f't."{ApiToken._meta.get_field(name).column}"'

    def u(name: str) -> str:
        return f'u."{user_model._meta.get_field(name).column}"'

    user_fields = tuple(field.attname for field in user_model._meta.concrete_fields)
    user_columns = ", ".join(u(field.name) for field in user_model._meta.concrete_fields)
    joined = f" LEFT JOIN ({read_sql}) r ON TRUE" if read_sql else ""
    sql = (
        f"SELECT {t('id')}, {t('last_used_at')}, {user_columns}{', r.*' if read_sql else ''}"  # noqa: S608 - names from the models
        f' FROM "{ApiToken._meta.db_table}" t JOIN "{user_model._meta.db_table}" u'
        f" ON {u(user_model._meta.pk.name)} = {t('user')}{joined}"
        f" WHERE {t('token_hash')} = %s AND {t('revoked_at')} IS NULL AND {u('is_active')} LIMIT 1"
    )
    return sql, user_fields


# The statements each database connection has prepared: {connection: {sql: name}}.
_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()
_STATEMENT_NUMBERS = itertools.count(1)


def _execute_prepared(cursor: Any, sql: str, params: tuple[Any, ...]) -> None:
    """Run `sql` (placeholders %s) as a statement the connection prepared: PREPARE the first time
    on each pooled connection (one more query, once), then EXECUTE. PostgreSQL parses and plans the
    token check joined with a summary read once, not on each request: ~0.08 ms of its CPU instead
    of ~0.37 ms. A statement the session lost (DISCARD ALL) or can no longer run as planned (a
    changed table) is prepared again under a new name, at once outside a transaction."""
    statements = _PREPARED.setdefault(connection.connection, {})
    try:
        cursor.execute(_execute_sql(cursor, statements, sql, len(params)), params)
    except (ProgrammingError, NotSupportedError):
        statements.pop(sql, None)
        if connection.in_atomic_block:  # the transaction is aborted: the next request prepares it
            raise
        cursor.execute(_execute_sql(cursor, statements, sql, len(params)), params)


def _execute_sql(cursor: Any, statements: dict[str, str], sql: str, count: int) -> str:
    """`EXECUTE name(%s, …)` of `sql`, prepared first if this connection has not yet."""
    name = statements.get(sql)
    if name is None:
        name = f"chatbili_read_{next(_STATEMENT_NUMBERS)}"
        numbers = itertools.count(1)
        cursor.execute(f"PREPARE {name} AS {re.sub('%s', lambda _: f'${next(numbers)}', sql)}")
        statements[sql] = name
    return f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
