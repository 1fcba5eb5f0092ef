"""The MCP tools' own kinds of error (see core.errors); the rest are the API's own kinds."""

from __future__ import annotations

from core.errors import error_kind

BAD_TIME_RANGE = error_kind(
    "bad_time_range",
    "时间范围无效：开始（{start}s）必须早于结束（{end}s）",
    "Bad time range: the start ({start}s) must come before the end ({end}s)",
    status=422,
)
TWO_SCOPES = error_kind(
    "two_scopes",
    "请只指定一个范围：视频（bvid）或合集（collection_id）",
    "Name one scope only: a video (bvid) or a collection (collection_id)",
    status=422,
)
