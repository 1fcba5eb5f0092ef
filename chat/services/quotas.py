"""Writes of the quota: reserving a request at the gate and releasing it when its stream ends.

A reservation is a QuotaReservation row that chat.quotas counts as a request for a minute. It
is written under a per-user lock (the user's row, SELECT ... FOR UPDATE) in the same transaction
as the quota check, so simultaneous requests of one user are checked one after another and a
burst with a limit of k admits exactly k.

Every LLM request passes here, so the statements are few and plain (issue 12): the lock, the
one-statement quota check (chat.quotas), the insert. Reservations older than the request window
(a crashed process's) no longer count and are deleted by the next release.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from chat.models import QuotaReservation
from chat.quotas import REQUEST_WINDOW, quota_check

_RESERVATIONS = QuotaReservation._meta.db_table
_LOCK_USER_SQL = f"SELECT 1 FROM {get_user_model()._meta.db_table} WHERE id = %s FOR UPDATE"  # noqa: S608 - names from the models
_RESERVE_SQL = f"INSERT INTO {_RESERVATIONS} (user_id, purpose, created_at) VALUES (%s, %s, %s) RETURNING id"  # noqa: S608
_RELEASE_SQL = f"DELETE FROM {_RESERVATIONS} WHERE id = %s OR created_at <= %s"  # noqa: S608


@transaction.atomic
def quota_reserve(*, user: Any, purpose: str) -> int:
    """Check the user's quota and reserve one request; returns the reservation's id.

    Raises AppError quota_exceeded (as chat.quotas.quota_check) and reserves nothing then.
    """
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_USER_SQL, [user.pk])
        quota_check(user)
        cursor.execute(_RESERVE_SQL, [user.pk, str(purpose), timezone.now()])
        return cursor.fetchone()[0]


def quota_release(*, reservation_id: int) -> None:
    """The reserved request's stream ended: its usage records (if it called the LLM) count now.
    Reservations of crashed processes (older than the request window) go too."""
    with connection.cursor() as cursor:
        cursor.execute(_RELEASE_SQL, [reservation_id, timezone.now() - REQUEST_WINDOW])
