"""Each sign-in's session is recorded, so "sign out everywhere" can end it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts.services import user_session_record


@receiver(user_logged_in, dispatch_uid="accounts.user_session_record")
def on_user_logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    user_session_record(user=user, session_key=getattr(session, "session_key", None))
