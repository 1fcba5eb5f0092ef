"""What every API router shares: the schema of the one error body, and its `response=` entries.

Kept apart from `chatbili_site.api` (which imports the routers) so that app routers can import
it without an import cycle, and free of app imports so that `videos` still never imports `chat`.
"""

from __future__ import annotations

from typing import Any

from ninja import Schema


class ErrorInfoOut(Schema):
    """An error: a stable machine code, a message for people (in the request's language), and details."""

    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorOut(Schema):
    """The one error body, `{"error": {"code", "message", "details"}}` (see core.errors.AppError.as_dict)."""

    error: ErrorInfoOut


def error_responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    """`response=` entries for errors: 400, 401 and 422 everywhere, plus the endpoint's own."""
    return {status: ErrorOut for status in sorted({400, 401, 422, *statuses})}
