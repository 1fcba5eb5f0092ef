"""The one error contract: `AppError`, with a stable code, a message in Chinese and English
chosen when it is rendered, an HTTP status and an optional `retry_after`.

Each app declares its kinds of error once, in its own `errors` module:

    NO_SUCH_PART = error_kind("no_such_part", "这个视频没有第 {page} P", "This video has no part {page}", status=404)
    raise AppError(NO_SUCH_PART, page=3)

Pages, the API, websocket frames, SSE events, the CLI and the admin all render an error with
`message(language)` or `as_dict(language)`. The database stores `code` and `params` (see
`stored()`), never a rendered message, so a stored error renders in the reader's language.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from django.utils import translation


@dataclass(frozen=True)
class ErrorKind:
    code: str
    zh: str  # str.format template over the error's params
    en: str
    status: int = 400  # the HTTP status the API answers with
    retryable: bool = False  # trying again later may help (an outside service's trouble)


_KINDS: dict[str, ErrorKind] = {}


def error_kind(code: str, zh: str, en: str, *, status: int = 400, retryable: bool = False) -> ErrorKind:
    """Declare a kind of error once; the same code may not mean two things."""
    kind = ErrorKind(code, zh, en, status, retryable)
    if _KINDS.setdefault(code, kind) != kind:
        raise ValueError(f"error code {code!r} is declared twice with different meanings")
    return kind


def kind_for_code(code: str) -> ErrorKind:
    """The declared kind of a stored code; an unknown code renders as an internal error."""
    return _KINDS.get(code, INTERNAL_ERROR)


def language_of(language: str | None = None) -> str:
    """ "zh" or "en" for a language code ("zh-hans", "en-us", "en", ...); the active one if None."""
    language = language or translation.get_language() or "zh"
    return "en" if language.lower().startswith("en") else "zh"


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_message(kind: ErrorKind, params: dict[str, Any], language: str | None = None) -> str:
    """The kind's template in `language`; a param given as `{"zh": ..., "en": ...}` is localized too."""
    chosen = language_of(language)
    template = kind.en if chosen == "en" else kind.zh
    values = {name: _localized(value, chosen) for name, value in params.items()}
    return string.Formatter().vformat(template, (), _KeepMissing(values))


def _localized(value: Any, language: str) -> Any:
    if isinstance(value, dict) and set(value) == {"zh", "en"}:
        return value[language]
    return value


class AppError(Exception):
    """The one public error base. Raise it with a kind and the kind's params."""

    def __init__(
        self,
        kind: ErrorKind,
        /,
        *,
        retry_after: int | None = None,
        details: dict[str, Any] | None = None,
        **params: Any,
    ) -> None:
        self.kind = kind
        self.params = params
        self.retry_after = retry_after
        self.details = details or {}
        super().__init__(f"{kind.code}: {render_message(kind, params, 'en')}")

    @property
    def code(self) -> str:
        return self.kind.code

    @property
    def status(self) -> int:
        return self.kind.status

    @property
    def retryable(self) -> bool:
        return self.kind.retryable

    def message(self, language: str | None = None) -> str:
        return render_message(self.kind, self.params, language)

    def as_dict(self, language: str | None = None) -> dict[str, Any]:
        """`{"code", "message", "details"}`; `retry_after` joins the details when set."""
        details = dict(self.details)
        if self.retry_after is not None:
            details["retry_after"] = self.retry_after
        return {"code": self.code, "message": self.message(language), "details": details}

    def stored(self) -> dict[str, Any]:
        """What a model stores of this error: `{"code", "params"}` (JSON-safe params only)."""
        return {"code": self.code, "params": self.params}

    @classmethod
    def from_stored(cls, code: str, params: dict[str, Any] | None = None) -> AppError:
        return cls(kind_for_code(code), **(params or {}))


def stored_error_message(code: str, params: dict[str, Any] | None = None, language: str | None = None) -> str:
    """The message of an error a model stored as code + params ("" when there is none)."""
    if not code:
        return ""
    return render_message(kind_for_code(code), params or {}, language)


# Kinds every layer uses.
INTERNAL_ERROR = error_kind(
    "internal_error", "内部错误，请稍后重试", "Internal error, please try again later", status=500, retryable=True
)
BAD_REQUEST = error_kind("bad_request", "请求无效：{reason}", "Bad request: {reason}")
INVALID_REQUEST = error_kind("invalid_request", "请求参数无效", "Invalid request", status=422)
UNAUTHORIZED = error_kind(
    "unauthorized", "需要登录或有效的 API 令牌", "A valid API token (Authorization: Bearer) is required", status=401
)
FORBIDDEN = error_kind("forbidden", "没有权限：{reason}", "Forbidden: {reason}", status=403)
NOT_FOUND = error_kind("not_found", "找不到", "Not found", status=404)
METHOD_NOT_ALLOWED = error_kind("method_not_allowed", "不支持这个请求方法", "Method not allowed", status=405)
REQUEST_TOO_LARGE = error_kind(
    "request_too_large",
    "请求内容过大（最多 {limit} 字节）",
    "Request body too large (at most {limit} bytes)",
    status=413,
)
# A request Django refuses to read (too many fields, a bad Host header, ...); the details stay in the logs.
MALFORMED_REQUEST = error_kind(
    "malformed_request", "请求格式有误，无法处理", "The request is malformed and cannot be processed", status=400
)
