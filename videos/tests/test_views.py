"""Home with the link box, submitting a link, retrying a failed part, transcript downloads."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_tasks_db.models import DBTaskResult

from tests.fakes.bilibili import FakeBilibili
from videos.models import Video, VideoPart, VideoRequest
from videos.services import video_request_record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="a-long-pass-phrase-9")


@pytest.fixture
def logged_in(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


def make_part(*, stage: str = VideoPart.Stage.READY, title: str = "红烧肉", page: int = 1) -> VideoPart:
    video, _ = Video.objects.get_or_create(bvid="BV1xx411c7mD", defaults={"aid": 2, "title": title})
    return VideoPart.objects.create(
        video=video, page=page, cid=100 + page, stage=stage, transcript_cues=[[0, 1500, "大家好"], [2000, 3000, "<b>"]]
    )


def test_anonymous_home_has_the_link_box_and_says_submitting_needs_a_login(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert 'name="link"' in response.text
    assert "提交时需要登录，链接会保留。" in response.text
    assert 'href="/accounts/login/"' in response.text


def test_submitting_signed_out_asks_to_sign_in_and_keeps_the_link(client: Client) -> None:
    response = client.post("/videos/", {"link": "BV17x411w7KC"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/%3Flink%3DBV17x411w7KC"


def test_home_fills_the_box_from_the_link_kept_through_the_login(client: Client) -> None:
    response = client.get("/", {"link": "BV17x411w7KC"})
    assert 'value="BV17x411w7KC"' in response.text


def test_home_shows_example_links_that_fill_the_box(client: Client) -> None:
    response = client.get("/")
    assert '<a href="/?link=av170001" class="example-link">av170001</a>' in response.text


def test_home_has_the_link_box_and_my_recent_videos(logged_in: Client, alice: User) -> None:
    part = make_part(title="<script>x</script>红烧肉")
    video_request_record(user=alice, part=part)
    response = logged_in.get("/")
    assert 'name="link"' in response.text
    assert "&lt;script&gt;x&lt;/script&gt;红烧肉" in response.text
    assert "/videos/BV1xx411c7mD/1/" in response.text


def test_submitting_a_link_queues_the_part_and_opens_its_page(logged_in: Client, bilibili: FakeBilibili) -> None:
    response = logged_in.post("/videos/", {"link": "https://www.bilibili.com/video/BV17x411w7KC?p=2"})

    assert response.status_code == 302
    assert response["Location"] == "/videos/BV17x411w7KC/2/"
    part = VideoPart.objects.get(video__bvid="BV17x411w7KC", page=2)
    assert part.stage == VideoPart.Stage.QUEUED and part.heartbeat_at is not None
    assert VideoRequest.objects.get(user__username="alice").page == 2


@pytest.mark.parametrize(
    ("link", "language", "message"),
    [
        ("这不是链接", "zh-hans", "无法识别的哔哩哔哩视频链接：请粘贴视频页地址、b23.tv 短链接或 BV/av 号"),
        (
            "这不是链接",
            "en",
            "Not a Bilibili video link: paste a video page address, a b23.tv short link or a BV/av id",
        ),
        (
            "BV1L9Uoa9EUx",
            "zh-hans",
            "这个视频目前不公开（UP 主设为私密或已隐藏），ChatBili 无法读取：请换一个视频，或等它重新公开后再试",
        ),
        ("https://www.bilibili.com/video/BV17x411w7KC?p=99", "zh-hans", "这个视频没有第 99 P（共 10 P）"),
    ],
)
def test_a_bad_link_shows_a_message_on_home(
    logged_in: Client, bilibili: FakeBilibili, link: str, language: str, message: str
) -> None:
    posted = logged_in.post("/videos/", {"link": link}, headers={"accept-language": language})
    assert (posted.status_code, posted["Location"]) == (302, "/#link-form")
    response = logged_in.get("/", headers={"accept-language": language})

    assert response.status_code == 200
    assert f'<p class="error-box" id="link-error" role="alert">{message}</p>' in response.text
    assert 'role="alert"' in response.text and "Traceback" not in response.text
    assert f'value="{link}"' in response.text  # the pasted text is kept
    assert not VideoRequest.objects.exists()


def test_the_refused_link_and_its_message_are_shown_once(logged_in: Client, bilibili: FakeBilibili) -> None:
    logged_in.post("/videos/", {"link": "这不是链接"})
    logged_in.get("/")
    again = logged_in.get("/")
    assert 'id="link-error"' not in again.text
    assert 'value=""' in again.text


def test_retry_queues_a_failed_part_again(logged_in: Client) -> None:
    part = make_part(stage=VideoPart.Stage.FAILED)
    response = logged_in.post("/videos/BV1xx411c7mD/1/retry/")
    assert response.status_code == 302
    part.refresh_from_db()
    assert part.stage == VideoPart.Stage.QUEUED


def test_retry_leaves_a_ready_part_alone(logged_in: Client) -> None:
    part = make_part()
    logged_in.post("/videos/BV1xx411c7mD/1/retry/")
    part.refresh_from_db()
    assert part.stage == VideoPart.Stage.READY


def test_transcript_downloads(logged_in: Client) -> None:
    make_part()
    srt = logged_in.get("/videos/BV1xx411c7mD/1/transcript.srt")
    assert srt["Content-Disposition"] == 'attachment; filename="BV1xx411c7mD-p1.srt"'
    assert srt.content.decode() == "1\n00:00:00,000 --> 00:00:01,500\n大家好\n\n2\n00:00:02,000 --> 00:00:03,000\n<b>\n"
    data = logged_in.get("/videos/BV1xx411c7mD/1/transcript.json")
    assert data["Content-Type"] == "application/json; charset=utf-8"
    assert json.loads(data.content)["cues"][0] == {"start_ms": 0, "end_ms": 1500, "text": "大家好"}


@pytest.mark.parametrize("path", ["/videos/BV1xx411c7mD/9/transcript.srt", "/videos/BV1xx411c7mD/2/transcript.json"])
def test_downloads_of_a_missing_part_or_transcript_are_404(logged_in: Client, path: str) -> None:
    make_part()
    VideoPart.objects.create(video=Video.objects.get(), page=2, cid=9)
    assert logged_in.get(path).status_code == 404


def test_a_bare_video_address_opens_part_one(logged_in: Client) -> None:
    make_part()
    assert logged_in.get("/videos/BV1xx411c7mD/")["Location"] == "/videos/BV1xx411c7mD/1/"
    assert logged_in.get("/videos/BV1xx411xxxx/").status_code == 404


def test_reloading_the_submit_address_goes_home(logged_in: Client) -> None:
    """The language switch on an error page reloads /videos/ with a GET."""
    assert logged_in.get("/videos/")["Location"] == "/"


def database_rows() -> dict[str, object]:
    """What a GET must leave as it was: history, parts' state and queued jobs."""
    return {
        "requests": list(VideoRequest.objects.values_list("pk", "page", "opened_at")),
        "parts": list(VideoPart.objects.values_list("pk", "stage", "heartbeat_at", "updated_at")),
        "jobs": DBTaskResult.objects.count(),
    }


GETS = [
    ("/", 200),
    ("/videos/", 302),
    ("/videos/BV1xx411c7mD/", 302),
    ("/videos/BV1xx411c7mD/1/transcript.srt", 200),
    ("/videos/BV1xx411c7mD/2/transcript.json", 200),
]


def test_a_get_writes_nothing(logged_in: Client, alice: User) -> None:
    """Each page's GET, one after the other (one database setup for all)."""
    video_request_record(user=alice, part=make_part())
    make_part(stage=VideoPart.Stage.QUEUED, page=2)  # a part never asked for
    for path, status in GETS:
        before = database_rows()
        assert logged_in.get(path).status_code == status, path
        assert database_rows() == before, path
