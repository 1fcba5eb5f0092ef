"""A cached summary over the API is a read near the floor: an exact, small number of queries, no
write, no LLM, in JSON and in SSE."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chat.cached_summaries import summary_made_for
from chat.summaries import summary_get_or_generate
from tests.api_client import API, user_with_token
from tests.factories import ready_part
from videos.models import VideoPart

pytestmark = pytest.mark.django_db
BVID = "BV1xx411c7mD"
SUMMARY = f"{API}/videos/{BVID}/parts/1/summary"
# The token with its user, then the summary joined with its part and video (ready, current and
# not older than the part's last ingestion: chat.cached_summaries).
CACHED_SUMMARY_QUERIES = 2


@pytest.fixture
def cached_summary(settings: Any) -> str:
    """A ready part whose zh summary is made (offline); returns an API token."""
    settings.OPENAI_API_KEY = ""
    part = async_to_sync(ready_part)()
    async_to_sync(summary_get_or_generate)(part, "zh")
    _, token = user_with_token()
    return token


def queries_of(client: Client, token: str, **params: str) -> tuple[Any, list[str]]:
    """The response and the SQL it ran (the async view runs in this thread under the test client)."""
    client.get(SUMMARY, params, headers={"authorization": f"Bearer {token}"})  # marks the token used
    with CaptureQueriesContext(connection) as captured:
        response = client.get(SUMMARY, params, headers={"authorization": f"Bearer {token}"})
    return response, [query["sql"] for query in captured.captured_queries]


def test_a_cached_summary_as_json_takes_two_reads(cached_summary: str) -> None:
    response, queries = queries_of(Client(), cached_summary)

    assert response.status_code == 200, response.content[:300]
    assert response.json()["status"] == "complete"
    assert len(queries) == CACHED_SUMMARY_QUERIES, "\n".join(queries)
    assert all(query.lstrip().upper().startswith("SELECT") for query in queries), "\n".join(queries)


def test_the_cached_read_sends_the_same_body_as_the_generating_one(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    async_to_sync(ready_part)()
    _, token = user_with_token()
    client = Client(headers={"authorization": f"Bearer {token}"})
    made_now = client.get(SUMMARY)  # made by this request, rendered through SummaryOut

    cached = client.get(SUMMARY)

    assert made_now.status_code == 200, made_now.content[:300]
    assert cached.status_code == 200
    assert cached.headers["Content-Type"] == made_now.headers["Content-Type"] == "application/json; charset=utf-8"
    assert cached.content == made_now.content


def test_a_summary_older_than_the_last_ingestion_is_not_read_as_cached(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    part = async_to_sync(ready_part)()
    summary = async_to_sync(summary_get_or_generate)(part, "zh")
    VideoPart.objects.filter(pk=part.pk).update(ingested_at=summary.completed_at + timedelta(seconds=1))

    assert summary_made_for(bvid=BVID, page=1, language="zh", style="standard") is None


def test_a_part_being_ingested_again_has_no_cached_read(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    part = async_to_sync(ready_part)()
    async_to_sync(summary_get_or_generate)(part, "zh")
    VideoPart.objects.filter(pk=part.pk).update(stage=VideoPart.Stage.EMBEDDINGS)

    assert summary_made_for(bvid=BVID, page=1, language="zh", style="standard") is None


def test_a_made_summary_is_read_as_cached(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    part = async_to_sync(ready_part)()
    summary = async_to_sync(summary_get_or_generate)(part, "zh")

    made = summary_made_for(bvid=BVID, page=1, language="zh", style="standard")

    assert made is not None
    assert (made["id"], made["content"]) == (summary.pk, summary.content)
