"""The video page, its fragments and Markdown export, history and the account page."""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.contrib.auth.models import User
from django.test import Client

from chat.models import ApiToken, Conversation, Message, Summary, UsageRecord
from chat.summary_keys import summary_key
from tests.factories import ready_part
from videos.models import Video, VideoPart, VideoRequest

pytestmark = pytest.mark.django_db(transaction=True)
PAGE = "/videos/BV1xx411c7mD/1/"


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="a-long-pass-phrase-9")


@pytest.fixture
def logged_in(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


@pytest.fixture
def part() -> VideoPart:
    return async_to_sync(ready_part)(title="<script>window.x=1</script>红烧肉")


def page_config(html: str) -> dict:
    match = re.search(r'<script id="video-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page hands its config to video.js"
    return json.loads(match.group(1))


def complete_summary(part: VideoPart, content: str) -> Summary:
    key = summary_key(part_id=part.pk, language="zh")
    return Summary.objects.create(
        part=part, language="zh", prompt_version=key.prompt_version, model=key.model, offline=key.offline,
        status=Summary.Status.COMPLETE, content=content,
    )  # fmt: skip


def conversation_with_answer(user: User, part: VideoPart, answer: str) -> Conversation:
    conversation = Conversation.objects.create(user=user, part=part, title="怎么做？")
    Message.objects.create(conversation=conversation, role="user", content="怎么做<b>？</b>")
    Message.objects.create(
        conversation=conversation, role="assistant", content=answer, offline=True,
        citations=[{"chunk_id": 1, "start_ms": 20_000, "end_ms": 39_500, "label": "[00:20]"}],
    )  # fmt: skip
    return conversation


def test_the_video_page_needs_a_login(client: Client, part: VideoPart) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_unknown_part_is_404(logged_in: Client, part: VideoPart) -> None:
    assert logged_in.get("/videos/BV1xx411c7mD/2/").status_code == 404
    assert logged_in.get("/videos/BV1xx411xxxx/1/").status_code == 404


def test_a_ready_part_page(logged_in: Client, part: VideoPart, alice: User) -> None:
    response = logged_in.get(PAGE)

    assert response.status_code == 200
    html = response.text
    assert "&lt;script&gt;window.x=1&lt;/script&gt;红烧肉" in html and "<script>window.x" not in html
    assert 'src="https://player.bilibili.com/player.html?bvid=BV1xx411c7mD&amp;p=1&amp;t=0&amp;autoplay=0' in html
    cue = '<a class="seek" href="#t=20" data-seek="20">[00:20]</a> <span class="cue-text">今天我们做一道经典的红烧肉。'
    assert cue in html
    assert html.count('class="cue-text"') == 16
    for download in ("notes.md?language=zh", "transcript.srt", "transcript.json"):
        assert f"{PAGE}{download}" in html
    assert "离线模式" in html  # no LLM is configured in tests
    config = page_config(html)
    assert config["socketPath"] == "/ws/videos/BV1xx411c7mD/1/"
    assert (config["stage"], config["summaryReady"], config["conversationId"]) == ("ready", False, None)
    assert config["loginUrl"] == "/accounts/login/?next=%2Fvideos%2FBV1xx411c7mD%2F1%2F"
    assert (config["labels"]["signedOut"], config["labels"]["noSuchPart"]) == ("请重新登录", "找不到这个视频分P")


def test_the_page_in_english_tells_a_signed_out_socket_to_sign_in_again(logged_in: Client, part: VideoPart) -> None:
    logged_in.cookies["django_language"] = "en"
    labels = page_config(logged_in.get(PAGE).text)["labels"]
    assert (labels["signedOut"], labels["signIn"], labels["noSuchPart"]) == (
        "Please sign in again",
        "Log in",
        "No such video part",
    )


def row_counts() -> dict[str, int]:
    """How many rows every model of the project's apps holds."""
    models = [*apps.get_app_config("chat").get_models(), *apps.get_app_config("videos").get_models()]
    return {model._meta.label: model.objects.count() for model in models}


def test_a_get_of_the_video_page_writes_nothing(logged_in: Client, part: VideoPart, alice: User) -> None:
    other = VideoPart.objects.create(video=part.video, page=2, cid=2002, title="P2")
    conversation = conversation_with_answer(alice, part, "先炒糖色")
    before = (row_counts(), list(VideoPart.objects.order_by("pk").values()))

    pages = [
        logged_in.get(PAGE),
        logged_in.get(f"{PAGE}?conversation={conversation.pk}"),
        logged_in.get("/videos/BV1xx411c7mD/2/"),
    ]

    assert [page.status_code for page in pages] == [200, 200, 200]
    assert (row_counts(), list(VideoPart.objects.order_by("pk").values())) == before
    assert not VideoRequest.objects.filter(user=alice).exists()
    assert other.stage == VideoPart.Stage.QUEUED


def test_a_part_never_asked_for_shows_a_start_button_that_posts(logged_in: Client, part: VideoPart) -> None:
    other = VideoPart.objects.create(video=part.video, page=2, cid=2002, title="P2")
    assert other.heartbeat_at is None

    html = logged_in.get("/videos/BV1xx411c7mD/2/").text
    other.refresh_from_db()
    assert (other.stage, other.heartbeat_at) == (VideoPart.Stage.QUEUED, None)
    assert page_config(html)["stage"] == "queued"
    assert 'id="ingest" data-stage="queued">' in html
    assert '<form method="post" action="/videos/BV1xx411c7mD/2/retry/" id="start-form">' in html
    assert '<option value="/videos/BV1xx411c7mD/1/">P1 P1</option>' in html  # the part selector

    started = logged_in.post("/videos/BV1xx411c7mD/2/retry/")

    other.refresh_from_db()
    assert (started.status_code, started["Location"]) == (302, "/videos/BV1xx411c7mD/2/")
    assert other.stage == VideoPart.Stage.QUEUED and other.heartbeat_at is not None


def test_a_finished_summary_is_rendered_by_the_server(logged_in: Client, part: VideoPart) -> None:
    complete_summary(part, "## 摘要\n<img src=x onerror=alert(1)> 好吃 [00:20]")

    html = logged_in.get(PAGE).text

    assert "&lt;img src=x onerror=alert(1)&gt; 好吃" in html
    assert '<a class="seek" href="#t=20" data-seek="20" rel="noopener noreferrer nofollow">[00:20]</a>' in html
    assert page_config(html)["summaryReady"] is True


def test_reopening_my_conversation_shows_its_messages(logged_in: Client, part: VideoPart, alice: User) -> None:
    conversation = conversation_with_answer(alice, part, "选五花肉 [00:40] <script>x()</script>")

    html = logged_in.get(f"{PAGE}?conversation={conversation.pk}").text

    assert "怎么做&lt;b&gt;？&lt;/b&gt;" in html
    assert "选五花肉 " in html and "&lt;script&gt;x()&lt;/script&gt;" in html
    assert 'data-seek="40"' in html and 'class="seek chip" href="#t=20" data-seek="20">[00:20]</a>' in html
    assert page_config(html)["conversationId"] == conversation.pk


def test_someone_elses_conversation_is_not_shown(logged_in: Client, part: VideoPart) -> None:
    bob = User.objects.create_user("bob", password="a-long-pass-phrase-9")
    conversation = conversation_with_answer(bob, part, "秘密回答")

    html = logged_in.get(f"{PAGE}?conversation={conversation.pk}").text

    assert "秘密回答" not in html
    assert page_config(html)["conversationId"] is None
    assert logged_in.get(f"{PAGE}?conversation=abc").status_code == 200


def test_fragments_are_sanitized_html(logged_in: Client, part: VideoPart, alice: User) -> None:
    summary = complete_summary(part, "## 要点\n- [00:20] <b>肉</b>")
    conversation = conversation_with_answer(alice, part, "**先** 焯水")
    answer = conversation.messages.get(role="assistant")

    summary_html = logged_in.get(f"/summaries/{summary.pk}/").text
    assert "<h2>要点</h2>" in summary_html and "&lt;b&gt;肉&lt;/b&gt;" in summary_html
    assert 'class="badge offline"' in summary_html
    message_html = logged_in.get(f"/messages/{answer.pk}/").text
    assert f'data-message-id="{answer.pk}"' in message_html and "<strong>先</strong> 焯水" in message_html


def test_someone_elses_message_fragment_is_404(client: Client, part: VideoPart, alice: User) -> None:
    answer = conversation_with_answer(alice, part, "私人回答").messages.get(role="assistant")
    client.force_login(User.objects.create_user("bob", password="a-long-pass-phrase-9"))
    assert client.get(f"/messages/{answer.pk}/").status_code == 404


def test_the_markdown_export_has_summary_and_transcript(logged_in: Client, part: VideoPart) -> None:
    complete_summary(part, "## 摘要\n好吃。")

    response = logged_in.get(f"{PAGE}notes.md?language=zh")

    assert response["Content-Disposition"] == 'attachment; filename="BV1xx411c7mD-p1.md"'
    text = response.content.decode()
    assert text.startswith("---\ntitle: ")  # YAML front matter, for Obsidian and Logseq
    assert "---\n\n# <script>window.x=1</script>红烧肉\n" in text  # a Markdown file, not HTML
    assert "## 总结\n\n### 摘要\n好吃。" in text and "- [00:20] 今天我们做一道经典的红烧肉。" in text


def test_no_markdown_export_before_the_part_is_ready(logged_in: Client) -> None:
    video = Video.objects.create(bvid="BV1xx411c7mD", aid=2, title="t")
    VideoPart.objects.create(video=video, page=1, cid=1, stage=VideoPart.Stage.TRANSCRIPT)
    assert logged_in.get(f"{PAGE}notes.md").status_code == 404


def test_history_lists_my_videos_and_conversations_only(logged_in: Client, part: VideoPart, alice: User) -> None:
    bob = User.objects.create_user("bob", password="a-long-pass-phrase-9")
    mine = conversation_with_answer(alice, part, "a")
    Conversation.objects.filter(pk=mine.pk).update(title="<i>我的问题</i>")
    conversation_with_answer(bob, part, "b")
    Conversation.objects.filter(user=bob).update(title="鲍勃的问题")
    logged_in.get(PAGE)

    html = logged_in.get("/history/").text

    assert "&lt;script&gt;window.x=1&lt;/script&gt;红烧肉" in html
    assert f"{PAGE}?conversation={mine.pk}" in html and "&lt;i&gt;我的问题&lt;/i&gt;" in html
    assert "2 条消息" in html
    assert "鲍勃的问题" not in html


def test_account_shows_usage_and_creates_a_token_shown_once(logged_in: Client, alice: User) -> None:
    UsageRecord.objects.create(user=alice, purpose="chat", model="m", prompt_tokens=1200, completion_tokens=34)

    assert "1234" in logged_in.get("/account/").text
    response = logged_in.post("/account/tokens/", {"name": "<b>脚本</b>"})

    token = ApiToken.objects.get(user=alice)
    secret = re.search(r'<code id="new-secret">(cbt_[\w-]+)</code>', response.text).group(1)
    assert token.prefix == secret[:12] and "&lt;b&gt;脚本&lt;/b&gt;" in response.text
    assert secret not in logged_in.get("/account/").text


def test_revoking_a_token(logged_in: Client, alice: User) -> None:
    logged_in.post("/account/tokens/", {"name": "x"})
    token = ApiToken.objects.get(user=alice)

    response = logged_in.post(f"/account/tokens/{token.pk}/revoke/", follow=True)

    token.refresh_from_db()
    assert token.revoked_at is not None and "已吊销" in response.text


def test_someone_elses_token_cannot_be_revoked(client: Client, alice: User) -> None:
    client.force_login(alice)
    client.post("/account/tokens/", {"name": "x"})
    token = ApiToken.objects.get(user=alice)
    client.force_login(User.objects.create_user("bob", password="a-long-pass-phrase-9"))

    assert client.post(f"/account/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_reloading_the_token_address_shows_the_account(logged_in: Client) -> None:
    assert logged_in.get("/account/tokens/")["Location"] == "/account/"
    assert not ApiToken.objects.exists()


def test_the_video_page_in_english(logged_in: Client, part: VideoPart) -> None:
    html = logged_in.get(PAGE, headers={"accept-language": "en"}).text

    assert 'lang="en"' in html and ">Summary</h2>" in html and "Search the transcript" in html
    config = page_config(html)
    assert config["summaryLanguage"] == "en" and config["labels"]["ready"] == "Ready"
    assert f"{PAGE}notes.md?language=en" in html


def test_reopening_a_video_restores_my_latest_conversation_and_lists_earlier_ones(
    logged_in: Client, part: VideoPart, alice: User
) -> None:
    older = conversation_with_answer(alice, part, "先焯水")
    latest = conversation_with_answer(alice, part, "再炒糖色")
    html = logged_in.get(PAGE).text
    assert page_config(html)["conversationId"] == latest.pk
    assert "再炒糖色" in html and "先焯水" not in html
    assert f'<a href="?conversation={older.pk}">' in html
    assert f'<a href="?conversation={latest.pk}" aria-current="true">' in html


def test_a_new_chat_restores_nothing(logged_in: Client, part: VideoPart, alice: User) -> None:
    conversation_with_answer(alice, part, "再炒糖色")
    html = logged_in.get(f"{PAGE}?conversation=new").text
    assert page_config(html)["conversationId"] is None
    assert "再炒糖色" not in html


def test_the_english_account_page_shows_the_token_placeholder(logged_in: Client) -> None:
    html = logged_in.get("/account/", headers={"accept-language": "en"}).text
    assert '<code class="header-example">Authorization: Bearer &lt;token&gt;</code>' in html
