"""The admin: cached videos with status, chunks and tokens; re-ingest, regenerate, purge; tokens; quotas."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from chat.models import ApiToken, CommentDraftSet, Conversation, Message, Summary, UsageRecord, UserQuota
from chat.quotas import quota_limits
from chat.services.api_tokens import api_token_authenticate, api_token_create
from tests.factories import ready_part
from videos.models import Chunk, Video, VideoPart

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", password=None))
    return client


@pytest.fixture
def video() -> Video:
    part = async_to_sync(ready_part)()
    VideoPart.objects.create(
        video=part.video,
        page=2,
        cid=2002,
        stage="failed",
        error_code="subtitle_unavailable",
        error_params={"status": 404},
    )
    Video.objects.filter(pk=part.video_id).update(duration_seconds=754)
    Summary.objects.create(
        part=part, language="zh", prompt_version="v1", model="m", prompt_tokens=900, completion_tokens=100
    )
    CommentDraftSet.objects.create(part=part, tone="认真", model="m", prompt_tokens=40, completion_tokens=10)
    user = User.objects.create_user("alice")
    conversation = Conversation.objects.create(user=user, part=part, title="糖色")
    Message.objects.create(conversation=conversation, role="assistant", prompt_tokens=5, completion_tokens=45)
    return Video.objects.get(pk=part.video_id)


def changelist(client: Client, model: str, language: str = "zh-hans", **params: str) -> str:
    response = client.get(reverse(f"admin:{model}_changelist"), params, headers={"accept-language": language})
    assert response.status_code == 200
    return response.content.decode()


def test_video_list_shows_status_duration_chunks_tokens_and_last_error(admin_client: Client, video: Video) -> None:
    page = changelist(admin_client, "videos_video")
    chunks = Chunk.objects.filter(part__video=video).count()
    assert chunks > 0
    assert "1/2 ready, 1 failed" in page
    assert "12:34" in page
    assert f'<td class="field-chunk_count">{chunks}</td>' in page
    assert '<td class="field-tokens_spent">1100</td>' in page
    assert '<td class="field-last_error">字幕文件下载失败（HTTP 404），请稍后再试</td>' in page


def test_the_last_error_is_shown_in_the_readers_language(admin_client: Client, video: Video) -> None:
    page = changelist(admin_client, "videos_video", language="en")
    message = "The subtitle file could not be downloaded (HTTP 404); try again later"
    assert f'<td class="field-last_error">{message}</td>' in page


@pytest.mark.parametrize(
    ("params", "found"),
    [
        ({"q": "BV1xx411c7mD"}, True),
        ({"q": "红烧肉"}, True),
        ({"q": "BV1GJ411x7h7"}, False),
        ({"status": "failed"}, True),
        ({"status": "ready"}, False),
        ({"status": "in_progress"}, False),
        ({"parts__transcript_source": "subtitle"}, True),
    ],
)
def test_video_search_and_filters(admin_client: Client, video: Video, params: dict, found: bool) -> None:
    page = changelist(admin_client, "videos_video", **params)
    assert ("红烧肉的做法" in page) is found


def run_action(client: Client, action: str, video: Video) -> None:
    response = client.post(
        reverse("admin:videos_video_changelist"), {"action": action, "_selected_action": [video.pk]}, follow=True
    )
    assert response.status_code == 200


def test_reingest_queues_every_part(admin_client: Client, video: Video) -> None:
    run_action(admin_client, "reingest", video)
    assert set(VideoPart.objects.filter(video=video).values_list("stage", flat=True)) == {"queued"}
    assert DBTaskResult.objects.count() == 2


def test_regenerate_makes_the_cached_summaries_again(admin_client: Client, video: Video) -> None:
    """Through the generation gate, as the operator (offline here: no LLM is configured)."""
    response = admin_client.post(
        reverse("admin:videos_video_changelist"),
        {"action": "regenerate_summaries", "_selected_action": [video.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert '<li class="success">' in response.content.decode()
    latest = Summary.objects.filter(part__video=video, language="zh").latest("created_at")
    assert (latest.status, latest.offline, latest.error_code) == ("complete", True, "")
    assert Chunk.objects.filter(part__video=video).exists() and CommentDraftSet.objects.count() == 1


def test_purge_drops_cached_data_but_keeps_conversations(admin_client: Client, video: Video) -> None:
    run_action(admin_client, "purge", video)
    assert not Chunk.objects.filter(part__video=video).exists()
    assert not Summary.objects.exists() and not CommentDraftSet.objects.exists()
    part = VideoPart.objects.get(video=video, page=1)
    assert (part.stage, part.transcript_cues, part.ingested_at) == ("failed", [], None)
    assert (part.error_code, part.error_params) == ("cache_purged", {})
    assert Conversation.objects.count() == 1 and Message.objects.count() == 1


def test_purge_skips_a_part_being_ingested(admin_client: Client, video: Video) -> None:
    VideoPart.objects.filter(video=video, page=1).update(stage="embeddings")
    run_action(admin_client, "purge", video)
    assert Chunk.objects.filter(part__video=video).exists()


def test_part_page_shows_its_chunks_read_only(admin_client: Client, video: Video) -> None:
    part = VideoPart.objects.get(video=video, page=1)
    page = admin_client.get(reverse("admin:videos_videopart_change", args=[part.pk])).content.decode()
    first = Chunk.objects.filter(part=part).order_by("ordinal").first()
    assert first.text[:10] in page
    assert 'name="chunks-0-text"' not in page  # read-only, no form field


@pytest.mark.parametrize("model", ["chat_conversation", "chat_message", "chat_usagerecord", "chat_apitoken"])
def test_read_only_models_cannot_be_added_or_changed(admin_client: Client, video: Video, model: str) -> None:
    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403
    changelist(admin_client, model)


def test_conversation_page_shows_messages_without_fields(admin_client: Client, video: Video) -> None:
    conversation = Conversation.objects.get()
    response = admin_client.get(reverse("admin:chat_conversation_change", args=[conversation.pk]))
    assert response.status_code == 200
    assert 'name="title"' not in response.content.decode()


def test_usage_records_list(admin_client: Client, video: Video) -> None:
    UsageRecord.objects.create(user=User.objects.get(username="alice"), purpose="chat", model="gpt-x", prompt_tokens=7)
    assert "gpt-x" in changelist(admin_client, "chat_usagerecord", q="alice")


def test_tokens_can_be_revoked_and_never_show_their_secret(admin_client: Client, video: Video) -> None:
    token, raw = api_token_create(user=User.objects.get(username="alice"), name="deploy-bot")
    page = changelist(admin_client, "chat_apitoken")
    assert token.prefix in page and raw not in page and token.token_hash not in page

    admin_client.post(
        reverse("admin:chat_apitoken_changelist"), {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    assert api_token_authenticate(raw) is None
    assert "deploy-bot" in changelist(admin_client, "chat_apitoken", state="revoked")
    assert "deploy-bot" not in changelist(admin_client, "chat_apitoken", state="active")


def test_admin_sets_a_users_quota(admin_client: Client, video: Video, settings) -> None:
    settings.QUOTA_DAILY_TOKENS = 1000
    settings.QUOTA_REQUESTS_PER_MINUTE = 9
    alice = User.objects.get(username="alice")
    response = admin_client.post(
        reverse("admin:chat_userquota_add"), {"user": alice.pk, "daily_token_budget": "50", "requests_per_minute": ""}
    )
    assert response.status_code == 302
    limits = quota_limits(alice)
    assert (limits.daily_tokens, limits.requests_per_minute) == (50, 9)
    UsageRecord.objects.create(user=alice, purpose="chat", model="m", prompt_tokens=30)
    assert '<td class="field-used_today">30</td>' in changelist(admin_client, "chat_userquota")
    assert UserQuota.objects.get(user=alice).daily_token_budget == 50
    assert ApiToken.objects.count() == 0
