"""The API of my summary templates (custom summary styles, see chat.styles), mounted by chat.api.

A template is used as `style=custom:<id>` on the summary endpoints (and the websocket's
summary frames). Only its owner sees, uses, changes or deletes it: anyone else's is a 404
`template_not_found`, exactly like a missing one. Bad instructions are 422 `bad_template`
(the offending placeholder in `details.placeholder`) or `template_too_long`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status
from pydantic import ConfigDict

from chat.models import SummaryTemplate
from chat.schemas import MAX_ID, NO_NUL
from chat.services.summary_templates import summary_template_create, summary_template_delete, summary_template_update
from chat.styles import PLACEHOLDERS, TEMPLATE_MAX_CHARS, TEMPLATE_NAME_MAX_CHARS, summary_templates_for_user
from core.api import error_responses

router = Router(tags=["summary templates"])
TemplateId = Annotated[int, Path(ge=1, le=MAX_ID)]
PLACEHOLDER_LIST = ", ".join("{" + name + "}" for name in PLACEHOLDERS)


class SummaryTemplateIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    name: str = Field("", max_length=TEMPLATE_NAME_MAX_CHARS, pattern=NO_NUL)
    # The length cap is checked by the service (template_too_long), so every entry point says the same.
    instructions: str = Field(
        min_length=1,
        max_length=TEMPLATE_MAX_CHARS * 4,
        pattern=NO_NUL,
        description=f"What the custom section should hold; at most {TEMPLATE_MAX_CHARS} characters. "
        f"Placeholders: {PLACEHOLDER_LIST}; write {{{{ and }}}} for literal braces.",
    )


class SummaryTemplateOut(Schema):
    id: int
    name: str
    instructions: str
    style: str = Field(description="Pass this as `style` to the summary endpoints")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_style(template: SummaryTemplate) -> str:
        return f"custom:{template.pk}"


@router.get("/summary-templates", response={200: list[SummaryTemplateOut], **error_responses()})
def summary_template_list(request: HttpRequest) -> Any:
    """My summary templates, newest first."""
    return summary_templates_for_user(request.auth)


@router.post("/summary-templates", response={201: SummaryTemplateOut, **error_responses()})
def summary_template_add(request: HttpRequest, body: SummaryTemplateIn) -> Status[SummaryTemplate]:
    """Save a summary template (422 bad_template or template_too_long when it cannot be used)."""
    template = summary_template_create(user=request.auth, name=body.name, instructions=body.instructions)
    return Status(201, template)


@router.put("/summary-templates/{template_id}", response={200: SummaryTemplateOut, **error_responses(404)})
def summary_template_change(request: HttpRequest, template_id: TemplateId, body: SummaryTemplateIn) -> Any:
    """Change one of my templates; summaries made with the old text stay cached under it."""
    return summary_template_update(
        user=request.auth, template_id=template_id, name=body.name, instructions=body.instructions
    )


@router.delete("/summary-templates/{template_id}", response={204: None, **error_responses(404)})
def summary_template_remove(request: HttpRequest, template_id: TemplateId) -> Status[None]:
    """Delete one of my templates; anyone else's is a 404."""
    summary_template_delete(user=request.auth, template_id=template_id)
    return Status(204, None)
