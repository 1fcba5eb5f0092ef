"""What a client may ask of the library (cross-video chat, series summary), validated the same way
by the API (chat.api_library) and the library websocket (chat.consumers_library)."""

from __future__ import annotations

from ninja import Field, Schema
from pydantic import ConfigDict, ValidationError

from chat.gate import LibraryAnswerOrder, SeriesSummaryOrder
from chat.schemas import MAX_ID, NO_NUL, QUESTION_MAX_CHARS, Language, invalid_request


class LibraryChatIn(Schema):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, not ignored

    question: str = Field(min_length=1, max_length=QUESTION_MAX_CHARS, pattern=NO_NUL)
    conversation_id: int | None = Field(None, ge=1, le=MAX_ID, description="Continue this conversation")
    language: Language = "auto"


class SeriesIn(Schema):
    model_config = ConfigDict(extra="forbid")

    language: Language = "zh"


class LibrarySearchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=QUESTION_MAX_CHARS, pattern=NO_NUL, description="What to look for")
    collection_id: int | None = Field(None, ge=1, le=MAX_ID, description="Only this collection of yours")
    limit: int = Field(8, ge=1, le=50)


def library_order_from_frame(
    kind: str, fields: dict, *, collection_id: int | None
) -> LibraryAnswerOrder | SeriesSummaryOrder:
    """The gate's order for a library socket frame (`ask`, or `summary`/`regenerate` on a
    collection's socket); invalid_request if bad."""
    try:
        if kind == "ask":
            ask = LibraryChatIn.model_validate(fields)
            return LibraryAnswerOrder(ask.question, collection_id, ask.conversation_id, ask.language)
        series = SeriesIn.model_validate(fields)
    except ValidationError as exc:
        raise invalid_request(exc) from exc
    assert collection_id is not None  # the consumer refuses summaries on the library socket
    return SeriesSummaryOrder(collection_id, series.language, regenerate=kind == "regenerate")
