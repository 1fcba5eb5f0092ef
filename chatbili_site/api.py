"""The project-level NinjaAPI, mounted at /api/v1/. Apps add their routers here."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema

api = NinjaAPI(
    title="ChatBili API",
    version="1.0.0",
    description="Summaries of and chat over Bilibili videos. 哔哩哔哩视频总结与对话。",
    urls_namespace="api-1",
)


class ErrorOut(Schema):
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


@api.exception_handler(ApiError)
def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    body = {"code": exc.code, "message": exc.message, "details": exc.details}
    return api.create_response(request, body, status=exc.status)


class VersionOut(Schema):
    name: str
    version: str


@api.get("/version", response=VersionOut, tags=["meta"])
def version(request: HttpRequest) -> dict:
    """The API's name and version; needs no authentication."""
    return {"name": "ChatBili", "version": api.version}
