"""POST /videos/{bvid}/parts/{page}/comments: three drafts in a tone, JSON or SSE."""

from __future__ import annotations

import pytest

from chat.models import CommentDraftSet, Summary
from tests.api_client import API, api_client, assert_error, auser_with_token, sse_request
from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)
COMMENTS = f"{API}/videos/BV1xx411c7mD/parts/1/comments"


async def test_json_drafts_offline_make_the_summary_first() -> None:
    user, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response = await client.post(COMMENTS, json={"tone": "funny"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["bvid"], body["page"], body["tone"], body["offline"]) == ("BV1xx411c7mD", 1, "幽默", True)
    assert len(body["drafts"]) == 3 and all(body["drafts"])
    saved = await CommentDraftSet.objects.aget(pk=body["id"])
    assert saved.user_id == user.pk and saved.drafts == body["drafts"]
    assert await Summary.objects.filter(status="complete").aexists()


async def test_sse_drafts_read_by_an_sse_client() -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response, events = await sse_request(client, "POST", COMMENTS, params={"stream": "true"}, json={})
    assert response.status_code == 200
    names = [name for name, _ in events]
    assert names[0] == "start" and "token" in names and names[-1] == "done", names
    assert len(events[-1][1]["drafts"]) == 3 and events[0][1]["tone"] == "认真"


@pytest.mark.parametrize(
    ("body", "code"),
    [({"tone": "angry"}, "bad_tone"), ({"tone": ""}, "invalid_request"), ({"language": "jp"}, "invalid_request")],
)
async def test_bad_tones_and_languages_are_422(body: dict, code: str) -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        as_json = await client.post(COMMENTS, json=body)
        as_sse = await client.post(COMMENTS, json=body, params={"stream": "true"})
    assert_error(as_json, 422, code)
    assert_error(as_sse, 422, code)
    assert not await CommentDraftSet.objects.aexists()
