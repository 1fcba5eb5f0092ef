"""Writes of the quota: reserving a request at the gate and releasing it when its stream ends.

A reservation is a QuotaReservation row that chat.quotas counts as a request for a minute. It
is written under a per-user lock (the user's row, SELECT ... FOR UPDATE) in the same transaction
as the quota check, so simultaneous requests of one user are checked one after another and a
burst with a limit of k admits exactly k.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from chat.models import QuotaReservation
from chat.quotas import REQUEST_WINDOW, quota_check


@transaction.atomic
def quota_reserve(*, user: Any, purpose: str) -> int:
    """Check the user's quota and reserve one request; returns the reservation's id.

    Raises AppError quota_exceeded (as chat.quotas.quota_check) and reserves nothing then.
    Reservations older than the request window (a crashed process's) are dropped here.
    """
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
    QuotaReservation.objects.filter(user_id=user.pk, created_at__lte=timezone.now() - REQUEST_WINDOW).delete()
    quota_check(user)
    return QuotaReservation.objects.create(user_id=user.pk, purpose=purpose).pk


def quota_release(*, reservation_id: int) -> None:
    """The reserved request's stream ended: its usage records (if it called the LLM) count now."""
    QuotaReservation.objects.filter(pk=reservation_id).delete()
