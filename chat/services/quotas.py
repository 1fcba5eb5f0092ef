"""Writes of the quota: reserving a request at the gate and releasing it when its stream ends.

A reservation is a QuotaReservation row that chat.quotas counts as a request for a minute. It
is written under a per-user lock (the user's row, SELECT ... FOR UPDATE) in the same transaction
as the quota check, so simultaneous requests of one user are checked one after another and a
burst with a limit of k admits exactly k.

Every LLM request passes here, so the statements are few and plain (issue 12): the lock, then
one statement that counts (chat.quotas) and inserts the reservation when within the limits. The
lock is a statement of its own: the counting statement's snapshot must be taken after it, to see
the reservation of the request that held the lock before. An answer releases its reservation in
the statement that saves its end (chat.services.conversations.answer_finish, `Reservation`);
reservations older than the request window (a crashed process's) no longer count and are deleted
by the next release.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from chat.models import QuotaReservation
from chat.quotas import (
    LIMITS_AND_COUNTS_SQL,
    REQUEST_WINDOW,
    limits_and_counts_of,
    limits_and_counts_params,
    quota_exceeded,
)

_RESERVATIONS = QuotaReservation._meta.db_table
_LOCK_USER_SQL = f"SELECT 1 FROM {get_user_model()._meta.db_table} WHERE id = %s FOR UPDATE"  # noqa: S608 - names from the models
# The counts, and the reservation inserted only when they are within the limits (the same test as
# chat.quotas.quota_exceeded; 0 is unlimited): the counts' row ends with the new id, or NULL.
_RESERVE_SQL = f"""
WITH counts AS ({LIMITS_AND_COUNTS_SQL}),
limits AS (
    SELECT COALESCE(daily, %(daily_default)s) AS daily, COALESCE(per_minute, %(per_minute_default)s) AS per_minute
    FROM counts
),
reserved AS (
    INSERT INTO {_RESERVATIONS} (user_id, purpose, created_at)
    SELECT %(user_id)s, %(purpose)s, %(now)s FROM counts CROSS JOIN limits
    WHERE (limits.daily = 0 OR counts.tokens < limits.daily)
      AND (limits.per_minute = 0 OR counts.used_requests + counts.reserved_requests < limits.per_minute)
    RETURNING id
)
SELECT counts.*, (SELECT id FROM reserved) FROM counts
"""  # noqa: S608 - table names from the models; values are parameters
RELEASE_SQL = f"DELETE FROM {_RESERVATIONS} WHERE id = %s OR created_at <= %s"  # noqa: S608


@dataclass
class Reservation:
    """A request the gate admitted; `id` becomes None once released (by its stream's end or the gate)."""

    id: int | None


@transaction.atomic
def quota_reserve(*, user: Any, purpose: str) -> int:
    """Check the user's quota and reserve one request; returns the reservation's id.

    Raises AppError quota_exceeded (as chat.quotas.quota_check) and reserves nothing then.
    """
    now = timezone.now()
    params = {
        **limits_and_counts_params(user, now),
        "daily_default": settings.QUOTA_DAILY_TOKENS,
        "per_minute_default": settings.QUOTA_REQUESTS_PER_MINUTE,
        "purpose": str(purpose),
        "now": now,
    }
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_USER_SQL, [user.pk])
        cursor.execute(_RESERVE_SQL, params)
        *counts, reservation_id = cursor.fetchone()
    if reservation_id is None:
        error = quota_exceeded(*limits_and_counts_of(counts), now)
        assert error is not None, "the reservation's SQL and quota_exceeded disagree"
        raise error
    return reservation_id


def release_params(reservation_id: int, now: datetime | None = None) -> list[Any]:
    """The parameters of RELEASE_SQL: the reservation, and every one older than the request window."""
    return [reservation_id, (now or timezone.now()) - REQUEST_WINDOW]


def quota_release(*, reservation_id: int) -> None:
    """The reserved request's stream ended: its usage records (if it called the LLM) count now.
    Reservations of crashed processes (older than the request window) go too."""
    with connection.cursor() as cursor:
        cursor.execute(RELEASE_SQL, release_params(reservation_id))
