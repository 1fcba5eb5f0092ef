"""The admin for series summaries: listed with owner, language and tokens, filtered by language and
collection, read-only, and deleted (not while generating) so the next request makes a new one."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from chat.models import SeriesSummary
from videos.models import Collection

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_deleting_skips_the_ones_being_generated(admin_client: Client, collections: tuple) -> None:
    done = series(collections[0], "zh")
    generating = series(collections[0], "en", SeriesSummary.Status.GENERATING)
    response = admin_client.post(
        reverse("admin:chat_seriessummary_changelist"),
        {"action": "delete_to_regenerate", "_selected_action": [done.pk, generating.pk]},
        follow=True,
    )
    assert list(SeriesSummary.objects.values_list("pk", flat=True)) == [generating.pk]
    assert (
        "Deleted 1 series summaries; the next request for each generates it again (1 being generated were skipped)"
        in (response.content.decode())
    )
