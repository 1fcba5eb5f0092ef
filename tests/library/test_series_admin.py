"""The admin for series summaries: listed with owner, language and tokens, filtered by language and
collection, read-only, and regenerated now by the action (through the gate as the operator: any
collection, no quota; not while one is being generated)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from chat.gate import SeriesSummaryOrder, library_generation_open
from chat.models import SeriesSummary, UsageRecord, UserQuota
from chat.quotas import quota_check
from chat.series import OPERATOR, series_plan
from core.errors import AppError
from tests.fakes.openai import FakeOpenAI
from tests.library.helpers import acollection_of, summarised_collection, two_videos
from videos.models import Collection

pytestmark = pytest.mark.django_db(transaction=True)

LLM_REPLY = "两期都讲炒糖色。"


@pytest.fixture
def admin_client() -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(User.objects.create_superuser("root", password=None))
    return client


def series(collection: Collection, language: str, status: str = SeriesSummary.Status.COMPLETE) -> SeriesSummary:
    return SeriesSummary.objects.create(
        collection=collection,
        language=language,
        prompt_version="v1",
        model="m",
        inputs_key=f"{language}-{status}",
        status=status,
        content="## 概览\n两期都讲炒糖色 [V1 00:40]",
        prompt_tokens=900,
        completion_tokens=100,
    )


@pytest.fixture
def collections() -> tuple[Collection, Collection]:
    alice = User.objects.create_user("alice")
    cooking = Collection.objects.create(owner=alice, kind="favourites", source_id="1", title="家常菜")
    tea = Collection.objects.create(owner=alice, kind="favourites", source_id="2", title="泡茶")
    return cooking, tea


def changelist(client: Client, **params: str) -> str:
    response = client.get(reverse("admin:chat_seriessummary_changelist"), params)
    assert response.status_code == 200
    return response.content.decode()


def rows(page: str) -> int:
    return page.count('name="_selected_action"')


def test_the_list_shows_collection_owner_language_and_tokens(admin_client: Client, collections: tuple) -> None:
    series(collections[0], "zh")
    page = changelist(admin_client)
    for cell in (
        '<td class="field-collection nowrap">favourites:1 家常菜</td>',
        '<td class="field-owner">alice</td>',
        '<td class="field-language">zh</td>',
        '<td class="field-tokens">1000</td>',
    ):
        assert cell in page


def test_the_list_filters_by_language(admin_client: Client, collections: tuple) -> None:
    series(collections[0], "zh")
    series(collections[0], "en")
    series(collections[1], "en")
    assert rows(changelist(admin_client, language="en")) == 2


def test_the_list_filters_by_collection(admin_client: Client, collections: tuple) -> None:
    series(collections[0], "zh")
    series(collections[0], "en")
    series(collections[1], "en")
    assert rows(changelist(admin_client, collection__id__exact=str(collections[1].pk))) == 1


def test_a_series_summary_is_shown_read_only(admin_client: Client, collections: tuple) -> None:
    row = series(collections[0], "zh")
    response = admin_client.get(reverse("admin:chat_seriessummary_change", args=[row.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "两期都讲炒糖色 [V1 00:40]" in page
    assert "<textarea" not in page and 'name="_save"' not in page


def run_regenerate(client: Client, *rows: SeriesSummary) -> str:
    """The admin's regenerate action on the rows; the page it lands on."""
    response = client.post(
        reverse("admin:chat_seriessummary_changelist"),
        {"action": "regenerate", "_selected_action": [row.pk for row in rows]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def alice_summarised() -> tuple[User, Collection]:
    alice = User.objects.create_user("alice")
    collection, _pork, _wings = async_to_sync(summarised_collection)(alice)
    return alice, collection


def cached_overview(user: Any, collection: Collection) -> SeriesSummary:
    """The overview as its owner's first request leaves it (through the gate, like the API)."""

    async def generate() -> None:
        async for _event in await library_generation_open(user=user, order=SeriesSummaryOrder(collection.pk)):
            pass

    async_to_sync(generate)()
    return SeriesSummary.objects.get()


def test_regenerate_makes_a_cached_overview_again_with_the_llm(admin_client: Client, llm: FakeOpenAI) -> None:
    alice, collection = alice_summarised()
    row = cached_overview(alice, collection)
    llm.reply = "新的概览。"

    page = run_regenerate(admin_client, row)

    row.refresh_from_db()
    assert (row.status, row.content, row.llm_calls, row.offline) == ("complete", "新的概览。", 1, False)
    assert len(llm.text_requests) == 2
    assert "Regenerated 1 of 1 series summaries" in page
    assert SeriesSummary.objects.count() == 1


def test_the_operator_is_not_charged_to_the_owner(admin_client: Client, llm: FakeOpenAI) -> None:
    alice, collection = alice_summarised()
    row = cached_overview(alice, collection)

    run_regenerate(admin_client, row)

    row.refresh_from_db()
    assert row.requested_by is None
    assert list(UsageRecord.objects.order_by("pk").values_list("user_id", flat=True)) == [alice.pk, None]


def test_regenerate_passes_an_owner_over_quota(admin_client: Client, llm: FakeOpenAI) -> None:
    alice, collection = alice_summarised()
    row = cached_overview(alice, collection)
    UserQuota.objects.create(user=alice, daily_token_budget=100)
    UsageRecord.objects.create(user=alice, purpose="chat", model="m", prompt_tokens=100)
    with pytest.raises(AppError, match="quota_exceeded"):
        quota_check(alice)

    page = run_regenerate(admin_client, row)

    assert "Regenerated 1 of 1 series summaries" in page
    assert len(llm.text_requests) == 2


def test_an_old_models_overview_is_regenerated_with_the_current_model(admin_client: Client, llm: FakeOpenAI) -> None:
    _alice, collection = alice_summarised()
    old = series(collection, "zh")  # model "m", an inputs key of no current summaries

    run_regenerate(admin_client, old)

    assert list(SeriesSummary.objects.order_by("pk").values_list("model", "status")) == [
        ("m", "complete"),
        ("fake-chat", "complete"),
    ]


def test_a_collection_without_summaries_is_counted_as_failed(admin_client: Client, llm: FakeOpenAI) -> None:
    alice = User.objects.create_user("alice")
    pork, wings = async_to_sync(two_videos)()
    row = series(async_to_sync(acollection_of)(alice, pork, wings), "zh")

    page = run_regenerate(admin_client, row)

    assert "Regenerated 0 of 1 series summaries; failed: series_no_summaries ×1" in page
    assert llm.text_requests == []


def test_regenerate_skips_the_ones_being_generated(admin_client: Client, llm: FakeOpenAI) -> None:
    _alice, collection = alice_summarised()
    generating = series(collection, "en", SeriesSummary.Status.GENERATING)

    page = run_regenerate(admin_client, generating)

    assert "Regenerated 0 of 0 series summaries (1 being generated were skipped)" in page
    assert llm.text_requests == []


def test_nobody_is_not_the_operator(collections: tuple) -> None:
    """`None` (no user) reads no collection; only OPERATOR reads anyone's."""
    with pytest.raises(AppError) as refused:
        series_plan(user=None, collection_id=collections[0].pk, language="zh")
    assert refused.value.code == "collection_not_found"
    with pytest.raises(AppError) as operator:
        series_plan(user=OPERATOR, collection_id=collections[0].pk, language="zh")
    assert operator.value.code == "series_no_summaries"
