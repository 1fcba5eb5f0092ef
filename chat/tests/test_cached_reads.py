"""A cached summary over the API is a read near the floor: an exact, small number of queries, no
write, no LLM, in JSON and in SSE. The token check reads it in the same statement
(chat.cached_summaries.summary_read_for), and a bad token, a missing part or bad parameters still
get their own errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.cached_summaries import summary_made_for, summary_read
from chat.models import ApiToken
from chat.services.api_tokens import api_token_authenticate
from chat.summaries import summary_get_or_generate
from tests.api_client import API, assert_error, user_with_token
from tests.factories import ready_part
from videos.models import VideoPart

pytestmark = pytest.mark.django_db
BVID = "BV1xx411c7mD"
SUMMARY = f"{API}/videos/{BVID}/parts/1/summary"
# One statement: the token with its user, and left-joined to them the summary with its part and
# video (ready, current and not older than the part's last ingestion: chat.cached_summaries).
CACHED_SUMMARY_QUERIES = 1


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
    # marks the token used, and prepares the read on this connection (chat.services.api_tokens)
    client.get(SUMMARY, params, headers={"authorization": f"Bearer {token}"})
    with CaptureQueriesContext(connection) as captured:
        response = client.get(SUMMARY, params, headers={"authorization": f"Bearer {token}"})
    return response, [query["sql"] for query in captured.captured_queries]


def test_a_cached_summary_as_json_takes_one_read(cached_summary: str) -> None:
    response, queries = queries_of(Client(), cached_summary)

    assert response.status_code == 200, response.content[:300]
    assert response.json()["status"] == "complete"
    assert len(queries) == CACHED_SUMMARY_QUERIES, "\n".join(queries)
    assert queries[0].startswith("EXECUTE chatbili_read_"), queries  # the prepared SELECT (no write)


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


def test_the_token_check_reads_the_summary_in_its_statement(cached_summary: str) -> None:
    read = summary_read(bvid=BVID, page=1, language="zh", style="standard")

    user = api_token_authenticate(cached_summary, read=read)

    assert user is not None
    assert read.made == summary_made_for(bvid=BVID, page=1, language="zh", style="standard")
    assert read.made["status"] == "complete"


def test_a_revoked_token_reads_nothing_along(cached_summary: str) -> None:
    ApiToken.objects.update(revoked_at=timezone.now())
    read = summary_read(bvid=BVID, page=1, language="zh", style="standard")

    assert api_token_authenticate(cached_summary, read=read) is None
    assert read.made is None


def test_a_bad_token_on_a_cached_summary_is_401(cached_summary: str) -> None:
    response = Client().get(SUMMARY, headers={"authorization": "Bearer cbt_not-a-token"})

    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="ChatBili"'


def test_a_missing_part_is_404_after_one_read_and_one_lookup(cached_summary: str) -> None:
    client = Client()
    client.get(f"{API}/videos/{BVID}/parts/2/summary", headers={"authorization": f"Bearer {cached_summary}"})
    with CaptureQueriesContext(connection) as captured:
        response = client.get(
            f"{API}/videos/{BVID}/parts/2/summary", headers={"authorization": f"Bearer {cached_summary}"}
        )

    assert_error(response, 404, "part_not_found")
    assert len(captured.captured_queries) == 2, "\n".join(query["sql"] for query in captured.captured_queries)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"{API}/videos/{BVID}/parts/10001/summary", {}),  # beyond MAX_PAGE
        (f"{API}/videos/{BVID}/parts/0/summary", {}),
        (SUMMARY, {"language": "fr"}),
        (SUMMARY, {"style": "x" * 41}),
        (f"{API}/videos/BV1xx411c7m%00/parts/1/summary", {}),
    ],
)
def test_bad_parameters_on_a_cached_summary_are_still_422(cached_summary: str, path: str, params: dict) -> None:
    response = Client().get(path, params, headers={"authorization": f"Bearer {cached_summary}"})

    assert_error(response, 422, "invalid_request")


def test_a_signed_in_session_gets_the_same_cached_body(cached_summary: str) -> None:
    by_token = Client().get(SUMMARY, headers={"authorization": f"Bearer {cached_summary}"})
    session = Client()
    session.force_login(ApiToken.objects.get().user)

    by_session = session.get(SUMMARY)

    assert by_token.status_code == by_session.status_code == 200
    assert by_session.content == by_token.content


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_lost_its_prepared_read_prepares_it_again(cached_summary: str) -> None:
    api_token_authenticate(cached_summary, read=summary_read(bvid=BVID, page=1, language="zh", style="standard"))
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a session reset would
    read = summary_read(bvid=BVID, page=1, language="zh", style="standard")

    assert api_token_authenticate(cached_summary, read=read) is not None
    assert read.made == summary_made_for(bvid=BVID, page=1, language="zh", style="standard")
