"""What every API router shares: the one error body and the one application error.

Kept apart from `chatbili_site.api` (which imports the routers) so that app routers can import
it without an import cycle, and free of app imports so that `videos` still never imports `chat`.
"""

from __future__ import annotations

from ninja import Schema


class ErrorOut(Schema):
    """The one error body: a stable machine code, a message for people, and details."""

    code: str
    message: str
    details: dict = {}


class ApiError(Exception):
    """The one application error the API turns into its error body."""

    def __init__(self, code: str, message: str, *, status: int = 400, details: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details or {}


def error_responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    """`response=` entries for errors: 400, 401 and 422 everywhere, plus the endpoint's own."""
    return {status: ErrorOut for status in sorted({400, 401, 422, *statuses})}
