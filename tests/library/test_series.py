"""A collection's series summary: map-reduce over the videos' summaries, labels checked and
turned into moment links, cached, streamed by API (JSON and SSE), only for the owner."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chat.models import SeriesSummary, Summary
from tests.api_client import API, api_client, assert_error, auser_with_token, sse_request
from tests.fakes.openai import FakeOpenAI
from tests.library.helpers import PORK, WINGS, acollection_of, summarised_collection, two_videos

pytestmark = pytest.mark.django_db(transaction=True)

SERIES_LABEL = re.compile(r"\[V\d+ \d{2}:\d{2}\]")


def series_reply(request: dict[str, Any]) -> str:
    """Copies every label of the notes, and adds one for a video not in the collection and one
    at a time no summary names."""
    notes = request["messages"][-1]["content"]
    labels = list(dict.fromkeys(SERIES_LABEL.findall(notes)))
    return (
        "合集讲了两道用糖色的菜。\n"
        + "\n".join(f"- 一个要点 {label}" for label in labels)
        + "\n- 编的 [V99999 00:20] [V1 59:00]"
    )


LLM_REPLY = series_reply


async def test_offline_the_overview_quotes_each_videos_summary_with_moment_links() -> None:
    alice, token = await auser_with_token("alice")
    collection, _pork, _wings = await summarised_collection(alice)
    async with api_client(token) as client:
        response = await client.post(f"{API}/collections/{collection.pk}/series-summary")

    body = response.json()
    assert response.status_code == 200, response.text
    assert (body["offline"], body["cached"], body["status"]) == (True, False, "complete")
    assert "《红烧肉的做法》" in body["content"] and "《可乐鸡翅》" in body["content"]
    assert [(link["bvid"], link["start_ms"], link["url"]) for link in body["links"]] == [
        (PORK, 120_000, f"/videos/{PORK}/1/?t=120"),
        (PORK, 220_000, f"/videos/{PORK}/1/?t=220"),
        (WINGS, 60_000, f"/videos/{WINGS}/1/?t=60"),
        (WINGS, 100_000, f"/videos/{WINGS}/1/?t=100"),
    ]


async def test_the_llm_overview_keeps_only_real_moments_of_the_collections_videos(llm: FakeOpenAI) -> None:
    alice, token = await auser_with_token("alice")
    collection, pork, wings = await summarised_collection(alice)
    async with api_client(token) as client:
        body = (await client.post(f"{API}/collections/{collection.pk}/series-summary")).json()

    assert body["offline"] is False
    assert "V99999" not in body["content"] and "59:00" not in body["content"]
    assert [(link["part_id"], link["start_ms"]) for link in body["links"]] == [
        (pork.pk, 120_000),
        (pork.pk, 220_000),
        (wings.pk, 60_000),
        (wings.pk, 100_000),
    ]
    notes = llm.text_requests[-1].body["messages"][-1]["content"]
    assert f"### V{pork.pk} 《红烧肉的做法》" in notes and f"[V{wings.pk} 01:40] 倒可乐" in notes


async def test_asking_again_streams_the_cached_overview_without_an_llm_call(llm: FakeOpenAI) -> None:
    alice, token = await auser_with_token("alice")
    collection, _, _ = await summarised_collection(alice)
    async with api_client(token) as client:
        first = (await client.post(f"{API}/collections/{collection.pk}/series-summary")).json()
        calls = len(llm.text_requests)
        _response, events = await sse_request(
            client, "POST", f"{API}/collections/{collection.pk}/series-summary", params={"stream": "true"}
        )

    assert [name for name, _ in events] == ["start", "token", "done"]
    assert events[0][1]["cached"] is True and events[-1][1]["links"] == first["links"]
    assert events[1][1]["text"] == first["content"]
    assert len(llm.text_requests) == calls
    assert await SeriesSummary.objects.acount() == 1


async def test_summaries_that_do_not_fit_one_call_are_reduced_in_batches(llm: FakeOpenAI, settings: Any) -> None:
    settings.SERIES_BATCH_TOKENS = 500
    alice, token = await auser_with_token("alice")
    collection, pork, wings = await summarised_collection(alice)
    await Summary.objects.filter(part=pork).aupdate(content=(await Summary.objects.aget(part=pork)).content * 20)
    async with api_client(token) as client:
        body = (await client.post(f"{API}/collections/{collection.pk}/series-summary")).json()

    assert len(llm.text_requests) == 3  # two partial overviews, then the overview of both
    row = await SeriesSummary.objects.aget(pk=body["series_id"])
    assert row.llm_calls == 3
    assert {link["part_id"] for link in body["links"]} == {pork.pk, wings.pk}


async def test_a_collection_without_summaries_is_series_no_summaries() -> None:
    alice, token = await auser_with_token("alice")
    pork, wings = await two_videos()
    collection = await acollection_of(alice, pork, wings)
    async with api_client(token) as client:
        response = await client.post(f"{API}/collections/{collection.pk}/series-summary")
    assert_error(response, 409, "series_no_summaries")


async def test_nobody_summarises_or_reads_another_users_collection() -> None:
    alice, token = await auser_with_token("alice")
    _, bob_token = await auser_with_token("bob")
    collection, _, _ = await summarised_collection(alice)
    async with api_client(token) as client:
        await client.post(f"{API}/collections/{collection.pk}/series-summary")
    async with api_client(bob_token) as client:
        made = await client.post(f"{API}/collections/{collection.pk}/series-summary")
        read = await client.get(f"{API}/collections/{collection.pk}/series-summary")
    assert_error(made, 404, "collection_not_found")
    assert_error(read, 404, "collection_not_found")
