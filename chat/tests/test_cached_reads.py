"""A cached summary over the API is a read near the floor: an exact, small number of queries, no
write, no LLM, in JSON and in SSE."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from chat.summaries import summary_get_or_generate
from tests.api_client import API, user_with_token
from tests.factories import ready_part

pytestmark = pytest.mark.django_db
SUMMARY = f"{API}/videos/BV1xx411c7mD/parts/1/summary"
# The token with its user, the part with its video, the current summary, and the part's last
# ingestion (chat.selectors.summary_current checks the summary is not older than it).
CACHED_SUMMARY_QUERIES = 4


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


def test_a_cached_summary_as_json_takes_four_reads(cached_summary: str) -> None:
    response, queries = queries_of(Client(), cached_summary)

    assert response.status_code == 200, response.content[:300]
    assert response.json()["status"] == "complete"
    assert len(queries) == CACHED_SUMMARY_QUERIES, "\n".join(queries)
    assert all(query.lstrip().upper().startswith("SELECT") for query in queries), "\n".join(queries)
