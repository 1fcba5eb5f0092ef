"""The cached-summary read of the API in one query, and its JSON without a schema pass.

`summary_made_for` is chat.selectors.summary_current for a part given by its address (bvid and
page), in one query instead of three: the part must be ready and the summary complete, made with
today's key (chat.summary_keys) and not older than the part's last ingestion. Anything else is
None and the request takes the full path (part lookup, 202 while ingesting, the gate).
`summary_read` is the same lookup as a `SummaryRead`, for the API's token check to join to its own
statement (chat.services.api_tokens): a cached summary over the API is then one query and one
trip to the database thread, as many as a trivial endpoint's one trip.
`summary_json` renders the row exactly as chat.api.SummaryOut and the API's renderer do (field
order, nested fields, dates as DjangoJSONEncoder writes them); chat/tests/test_cached_reads.py
checks the two bodies are the same.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.http import HttpRequest

from chat.models import Summary
from chat.styles import STYLES
from chat.summary_keys import LANGUAGES, summary_key
from videos.api import BVID_PATTERN
from videos.models import Video, VideoPart

# Summary columns the response needs (not `previous`, the earlier version, nor the bookkeeping).
SUMMARY_FIELDS = (
    "id",
    "language",
    "status",
    "content",
    "key_points",
    "highlights",
    "chapters",
    "mode",
    "offline",
    "model",
    "prompt_version",
    "style",
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "completed_at",
)
JSON_FIELDS = ("key_points", "highlights", "chapters")
SUMMARY_URL_NAME = "summary_get"  # the route's url_name (chat.api.summary_get)
_BVID = re.compile(BVID_PATTERN)
_PAGE = re.compile(r"[1-9][0-9]{0,4}")  # a page as the route takes it (1..MAX_PAGE) checks again
_ENCODER = DjangoJSONEncoder()


def summary_made_for(*, bvid: str, page: int, language: str, style: str) -> dict[str, Any] | None:
    """The current summary's fields (SUMMARY_FIELDS) of a ready part, or None. `style` is a
    style key (chat.styles.style_key)."""
    params = _summary_params(bvid=bvid, page=page, language=language, style=style)
    if params is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_summary_sql(), params)
        row = cursor.fetchone()
    return None if row is None else _made(row)


@dataclass
class SummaryRead:
    """The lookup of `summary_made_for` as one SELECT (`sql`, `params`) of at most one row, for
    another statement to join; `take` gets that row's values (all None when there is none) and
    `made` then holds the fields, or None. `key` is (bvid, page, language, style key)."""

    key: tuple[str, int, str, str]
    sql: str
    params: tuple[Any, ...]
    made: dict[str, Any] | None = None

    def take(self, values: tuple[Any, ...]) -> None:
        self.made = None if values[0] is None else _made(values)


def summary_read(*, bvid: str, page: int, language: str, style: str) -> SummaryRead | None:
    """`summary_made_for` as a read to join; None for a language that has no summaries."""
    params = _summary_params(bvid=bvid, page=page, language=language, style=style)
    if params is None:
        return None
    return SummaryRead((bvid, page, language, style), _summary_sql(), params)


def summary_read_for(request: HttpRequest) -> SummaryRead | None:
    """The read of a JSON GET of the API's summary route (SUMMARY_URL_NAME) with a built-in style,
    for the API token check to join (chatbili_site.api.ApiTokenAuth); None for any other request.
    Kept on the request for `joined_read`. Runs before ninja validates the parameters: only
    well-formed ones are read, and the view uses the row only if its own parameters are the same."""
    match = request.resolver_match
    if match is None or match.url_name != SUMMARY_URL_NAME or request.method != "GET":
        return None
    bvid, page = str(match.kwargs.get("bvid", "")), str(match.kwargs.get("page", ""))
    style, stream = request.GET.get("style", "standard"), request.GET.get("stream", "false")
    if style not in STYLES or stream not in ("false", "0") or not (_BVID.fullmatch(bvid) and _PAGE.fullmatch(page)):
        return None
    read = summary_read(bvid=bvid, page=int(page), language=request.GET.get("language", "zh"), style=style)
    request.summary_read = read  # type: ignore[attr-defined]
    return read


def joined_read(request: HttpRequest, *, bvid: str, page: int, language: str, style: str) -> SummaryRead | None:
    """The read the token check did along for this request (summary_read_for), if it is for these
    parameters (`style` a built-in one): its `made` is then the summary, or None if none is made."""
    read: SummaryRead | None = getattr(request, "summary_read", None)
    return read if read is not None and read.key == (bvid, page, language, style) else None


def _summary_params(*, bvid: str, page: int, language: str, style: str) -> tuple[Any, ...] | None:
    if language not in LANGUAGES:
        return None
    key = summary_key(part_id=0, language=language, style=style)
    ready, complete = VideoPart.Stage.READY.value, Summary.Status.COMPLETE.value
    return (bvid, page, ready, language, key.prompt_version, key.model, key.style, complete)


def _made(row: tuple[Any, ...]) -> dict[str, Any]:
    made = dict(zip(SUMMARY_FIELDS, row, strict=True))
    for name in JSON_FIELDS:  # jsonb arrives as text (Django's own loader for JSONField)
        if isinstance(made[name], str):
            made[name] = json.loads(made[name])
    return made


@cache
def _summary_sql() -> str:
    """The lookup as SQL, written once: the ORM would build the same query again for each request
    (~1 ms of this CPU, more than the rest of the read). Table and column names come from the models."""

    def s(name: str) -> str:
        return _column("s", Summary, name)

    def p(name: str) -> str:
        return _column("p", VideoPart, name)

    columns = ", ".join(s(name) for name in SUMMARY_FIELDS)
    return (
        f'SELECT {columns} FROM "{Summary._meta.db_table}" s'  # noqa: S608 - names from the models; values are parameters
        f' JOIN "{VideoPart._meta.db_table}" p ON {p("id")} = {s("part")}'
        f' JOIN "{Video._meta.db_table}" v ON {_column("v", Video, "id")} = {p("video")}'
        f" WHERE {_column('v', Video, 'bvid')} = %s AND {p('page')} = %s AND {p('stage')} = %s"
        f" AND {s('language')} = %s AND {s('prompt_version')} = %s AND {s('model')} = %s AND {s('style')} = %s"
        f" AND {s('status')} = %s AND ({p('ingested_at')} IS NULL OR {s('completed_at')} IS NULL"
        f" OR {s('completed_at')} >= {p('ingested_at')})"
        " LIMIT 1"  # the cache key is unique (summary_unique_cache_key)
    )


def _column(alias: str, model: type, name: str) -> str:
    return f'{alias}."{model._meta.get_field(name).column}"'


def summary_json(*, bvid: str, page: int, row: dict[str, Any], fields: dict[str, tuple[str, ...]]) -> bytes:
    """The response body: `fields` maps "" to the top-level fields in order and each nested list
    ("key_points", "chapters") to its items' fields (the schemas' `model_fields`)."""
    values = {**row, "bvid": bvid, "page": page}
    if values["completed_at"] is not None:
        values["completed_at"] = _ENCODER.default(values["completed_at"])
    body = {}
    for name in fields[""]:
        value = values[name]
        if name in fields:
            value = [{field: item[field] for field in fields[name]} for item in value]
        body[name] = value
    return json.dumps(body, ensure_ascii=False).encode()
