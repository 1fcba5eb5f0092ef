"""Writes of a user's summary templates (custom summary styles, see chat.styles).

Every write validates the instructions (template_too_long, bad_template) and touches only the
owner's templates: anyone else's is template_not_found, exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from chat.errors import TEMPLATE_NOT_FOUND
from chat.models import SummaryTemplate
from chat.styles import summary_template_get_for_user, template_validate
from core.errors import AppError


def _clean_name(name: str, instructions: str) -> str:
    """The name as given, else the start of the instructions."""
    name = " ".join(name.split())
    return (name or " ".join(instructions.split())[:30] or "template")[:100]


@transaction.atomic
def summary_template_create(*, user: Any, name: str, instructions: str) -> SummaryTemplate:
    """Save a new template for `user` (validated first)."""
    template_validate(instructions)
    return SummaryTemplate.objects.create(owner=user, name=_clean_name(name, instructions), instructions=instructions)


@transaction.atomic
def summary_template_update(*, user: Any, template_id: int, name: str, instructions: str) -> SummaryTemplate:
    """Change one of the user's templates; its summaries get a new cache entry (the key hashes the text)."""
    template_validate(instructions)
    template = summary_template_get_for_user(user=user, template_id=template_id)
    template.name, template.instructions = _clean_name(name, instructions), instructions
    template.save(update_fields=["name", "instructions", "updated_at"])
    return template


@transaction.atomic
def summary_template_delete(*, user: Any, template_id: int) -> None:
    """Delete one of the user's templates (the summaries made with it stay in the cache)."""
    deleted, _ = SummaryTemplate.objects.filter(pk=template_id, owner=user).delete()
    if not deleted:
        raise AppError(TEMPLATE_NOT_FOUND)
