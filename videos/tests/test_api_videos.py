"""The videos API: submit a link, follow ingestion, download the transcript."""

from __future__ import annotations

import pytest
from django_tasks_db.models import DBTaskResult

from tests.api_client import API, api_client, assert_error, auser_with_token
from tests.factories import ready_part
from tests.fakes.bilibili import FakeBilibili
from videos.ingest import part_ingest
from videos.models import VideoPart

pytestmark = pytest.mark.django_db(transaction=True)

SUBTITLED = "https://www.bilibili.com/video/BV117411r7R1"


async def test_submit_queues_the_part_then_answers_200_when_ready(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        queued = await client.post(f"{API}/videos", json={"link": SUBTITLED})

        assert queued.status_code == 202, queued.text
        body = queued.json()
        assert (body["bvid"], body["page"], body["stage"], body["ready"]) == ("BV117411r7R1", 1, "queued", False)
        assert await DBTaskResult.objects.acount() == 1

        part = await VideoPart.objects.aget(video__bvid="BV117411r7R1", page=1)
        assert await part_ingest(part.pk)

        ready = await client.post(f"{API}/videos", json={"link": SUBTITLED})
    assert ready.status_code == 200
    assert ready.json()["stage"] == "ready" and ready.json()["ready"] is True
    assert await DBTaskResult.objects.acount() == 1  # nothing queued again


async def test_submitting_twice_while_queued_queues_one_job(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        first = await client.post(f"{API}/videos", json={"link": "BV117411r7R1"})
        second = await client.post(f"{API}/videos", json={"link": "BV117411r7R1"})
    assert (first.status_code, second.status_code) == (202, 202)
    assert await DBTaskResult.objects.acount() == 1


async def test_a_multi_part_link_names_its_part(bilibili: FakeBilibili) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.post(f"{API}/videos", json={"link": "https://b23.tv/BV17x411w7KC?p=3"})
        video = await client.get(f"{API}/videos/BV17x411w7KC")
    assert response.status_code == 202 and response.json()["page"] == 3
    assert [part["page"] for part in video.json()["parts"]] == list(range(1, 11))


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"link": "https://example.com/not-bilibili"}, 422, "invalid_link"),
        ({"link": "BV1xx411c7mX"}, 422, "invalid_link"),
        ({"link": "BV1GJ411x7h7"}, 422, "video_not_found"),
        ({"link": "BV1L9Uoa9EUx"}, 422, "video_private"),
        ({"link": "https://www.bilibili.com/video/BV117411r7R1?p=5"}, 422, "no_such_part"),
        ({"link": ""}, 422, "invalid_request"),
        ({"link": "x" * 2001}, 422, "invalid_request"),
        ({"url": SUBTITLED}, 422, "invalid_request"),
        ({"link": 17}, 422, "invalid_request"),
    ],
)
async def test_bad_links_are_4xx_and_write_nothing(bilibili: FakeBilibili, body: dict, status: int, code: str) -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.post(f"{API}/videos", json=body)
    assert_error(response, status, code)
    assert not await VideoPart.objects.aexists()


async def test_malformed_json_is_400() -> None:
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.post(
            f"{API}/videos", content=b"{not json", headers={"Content-Type": "application/json"}
        )
    assert_error(response, 400, "bad_request")


async def test_bilibili_unreachable_is_503_with_retry_after(settings) -> None:
    settings.BILIBILI_RETRY_ATTEMPTS = 1
    _, token = await auser_with_token()
    async with api_client(token) as client:
        response = await client.post(f"{API}/videos", json={"link": "BV117411r7R1"})
    assert_error(response, 503, "bilibili_unavailable")
    assert int(response.headers["Retry-After"]) > 0


@pytest.mark.parametrize("header", [None, "Bearer cbt_wrong", "Bearer ", "Token abc", "Basic YWxpY2U6cHc="])
async def test_no_valid_token_is_401(header: str | None) -> None:
    await auser_with_token()
    await ready_part()
    headers = {"Authorization": header} if header else {}
    async with api_client(headers=headers) as client:
        response = await client.get(f"{API}/videos/BV1xx411c7mD")
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_video_and_part_status_with_progress() -> None:
    _, token = await auser_with_token()
    part = await ready_part()
    await VideoPart.objects.filter(pk=part.pk).aupdate(stage="embeddings", progress_percent=63)
    async with api_client(token) as client:
        video = await client.get(f"{API}/videos/BV1xx411c7mD")
        status = await client.get(f"{API}/videos/BV1xx411c7mD/parts/1")
    assert video.status_code == 200
    assert video.json()["title"] == "红烧肉的做法"
    assert status.json() | {"ingested_at": None} == video.json()["parts"][0] | {"ingested_at": None}
    assert (status.json()["stage"], status.json()["progress_percent"], status.json()["ready"]) == (
        "embeddings",
        63,
        False,
    )


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/videos/BV1GJ411x7h7", 404, "not_found"),
        ("/videos/BV1xx411c7mD/parts/2", 404, "part_not_found"),
        ("/videos/BV1xx411c7mD/parts/2/transcript", 404, "part_not_found"),
        ("/videos/not-a-bvid", 422, "invalid_request"),
        ("/videos/BV1xx411c7mD/parts/0", 422, "invalid_request"),
        ("/videos/BV1xx411c7mD/parts/99999999999999999999", 422, "invalid_request"),
        ("/videos/BV1xx411c7mD/parts/1/transcript?format=docx", 422, "invalid_request"),
    ],
)
async def test_unknown_and_malformed_paths(path: str, status: int, code: str) -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        response = await client.get(API + path)
    assert_error(response, status, code)


async def test_transcript_as_json_and_srt() -> None:
    _, token = await auser_with_token()
    await ready_part()
    async with api_client(token) as client:
        as_json = await client.get(f"{API}/videos/BV1xx411c7mD/parts/1/transcript")
        as_srt = await client.get(f"{API}/videos/BV1xx411c7mD/parts/1/transcript", params={"format": "srt"})

    cues = as_json.json()["cues"]
    assert cues[0] == {"start_ms": 0, "end_ms": 19500, "text": "大家好，欢迎来到今天的厨房。"}
    assert len(cues) == 16
    assert as_srt.headers["content-type"].startswith("application/x-subrip")
    assert 'filename="BV1xx411c7mD-p1.srt"' in as_srt.headers["content-disposition"]
    assert as_srt.text.startswith("1\n00:00:00,000 --> 00:00:19,500\n大家好")


async def test_transcript_of_a_part_not_ready_is_409_with_its_stage() -> None:
    _, token = await auser_with_token()
    part = await ready_part()
    async with api_client(token) as client:
        await VideoPart.objects.filter(pk=part.pk).aupdate(stage="transcript", progress_percent=20)
        running = await client.get(f"{API}/videos/BV1xx411c7mD/parts/1/transcript")
        await VideoPart.objects.filter(pk=part.pk).aupdate(stage="failed", error_code="video_not_found")
        failed = await client.get(f"{API}/videos/BV1xx411c7mD/parts/1/transcript", headers={"Accept-Language": "en"})
        await VideoPart.objects.filter(pk=part.pk).aupdate(
            error_code="legacy_error", error_params={"text": "视频已删除"}
        )
        legacy = await client.get(f"{API}/videos/BV1xx411c7mD/parts/1/transcript")
    assert assert_error(running, 409, "part_not_ready")["details"] == {"stage": "transcript", "percent": 20}
    assert assert_error(failed, 409, "ingest_failed") == {
        "code": "ingest_failed",
        "message": "The video does not exist; it may have been deleted or be geo-restricted: check the link",
        "details": {"error_code": "video_not_found"},
    }
    assert assert_error(legacy, 409, "ingest_failed")["message"] == "视频已删除"


async def test_a_failed_part_shows_its_error_code_and_message() -> None:
    _, token = await auser_with_token()
    part = await ready_part()
    await VideoPart.objects.filter(pk=part.pk).aupdate(stage="failed", error_code="empty_transcript")
    async with api_client(token) as client:
        status = await client.get(f"{API}/videos/BV1xx411c7mD/parts/1", headers={"Accept-Language": "en"})
    body = status.json()
    assert (body["error_code"], body["error"]) == ("empty_transcript", "No speech or subtitles were found")


async def test_a_get_writes_nothing() -> None:
    _, token = await auser_with_token()
    await ready_part()

    async def rows() -> tuple[list, int]:
        parts = [row async for row in VideoPart.objects.values_list("pk", "stage", "heartbeat_at", "updated_at")]
        return parts, await DBTaskResult.objects.acount()

    paths = ["", "/parts/1", "/parts/1/transcript", "/parts/1/transcript?format=srt"]
    async with api_client(token) as client:
        for path in paths:
            before = await rows()
            response = await client.get(f"{API}/videos/BV1xx411c7mD{path}")
            assert response.status_code == 200, path
            assert await rows() == before, path
