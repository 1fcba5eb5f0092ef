"""What a client may ask the generation gate for, validated the same way on every entry point.

The API takes these as its request bodies and query; the websocket consumer validates its
frames with them (`order_from_frame`), so the same bad input is an `invalid_request` (422)
on both, with the same details.
"""

from __future__ import annotations

from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict, ValidationError

from chat.gate import AnswerOrder, CommentsOrder, Order, SummaryOrder
from core.errors import INVALID_REQUEST, AppError

Language = Literal["zh", "en", "auto"]
MAX_ID = 2**63 - 1
NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL
QUESTION_MAX_CHARS = 2000


STYLE_DESCRIPTION = "brief, standard, study, qa, or custom:<id> (one of your summary templates)"


class SummaryIn(Schema):
    model_config = ConfigDict(extra="forbid")

    language: Language = "zh"
    # Checked by the gate (chat.styles): unknown is bad_style 422, someone else's template 404.
    style: str = Field("standard", min_length=1, max_length=40, pattern=NO_NUL, description=STYLE_DESCRIPTION)


class CommentsIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    tone: str = Field(
        "认真", min_length=1, max_length=20, pattern=NO_NUL, description="认真, 幽默, 提问, 夸夸 (or serious, funny, …)"
    )
    language: Language = "zh"


class ChatIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    question: str = Field(min_length=1, max_length=QUESTION_MAX_CHARS, pattern=NO_NUL)
    conversation_id: int | None = Field(None, ge=1, le=MAX_ID, description="Continue this conversation")
    language: Language = "auto"


def invalid_request(exc: ValidationError) -> AppError:
    """A validation failure as the API reports it: invalid_request with the failing fields."""
    errors = [{"loc": list(error["loc"]), "msg": str(error["msg"])} for error in exc.errors()]
    return AppError(INVALID_REQUEST, details={"errors": errors})


def order_from_frame(kind: str, fields: dict) -> Order:
    """The gate's order for a websocket frame of type `kind` (without its "type"); invalid_request if bad."""
    try:
        if kind == "ask":
            ask = ChatIn.model_validate(fields)
            return AnswerOrder(ask.question, ask.conversation_id, ask.language)
        if kind == "comments":
            comments = CommentsIn.model_validate(fields)
            return CommentsOrder(comments.tone, comments.language)
        summary = SummaryIn.model_validate(fields)
        return SummaryOrder(summary.language, regenerate=kind == "regenerate", style=summary.style)
    except ValidationError as exc:
        raise invalid_request(exc) from exc
