"""A stored cross-video answer and a stored series summary on the library page: their Markdown
rendered (not shown as tags), each cited label in the text a link to its moment."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from chat.models import Conversation, Message, SeriesSummary
from tests.library.test_pages import apage
from videos.models import Collection

pytestmark = pytest.mark.django_db(transaction=True)

CITATION = {
    "part_id": 12,
    "bvid": "BV1xx411c7mD",
    "page": 1,
    "video_title": "红烧肉的做法",
    "part_title": "P1",
    "chunk_id": 1,
    "start_ms": 40_000,
    "end_ms": 59_500,
    "label": "[V12 00:40]",
    "url": "/videos/BV1xx411c7mD/1/?t=40",
}


async def stored_answer(user: User) -> Conversation:
    conversation = await Conversation.objects.acreate(user=user, scope="library", title="糖色")
    await Message.objects.acreate(conversation=conversation, role="user", content="怎么炒糖色？")
    await Message.objects.acreate(
        conversation=conversation, role="assistant", content="**冰糖**小火炒 [V12 00:40]。", citations=[CITATION]
    )
    return conversation


async def test_a_stored_answer_links_its_labels_to_their_moments() -> None:
    alice = await User.objects.acreate(username="alice")
    conversation = await stored_answer(alice)

    html = await apage(alice, f"/library/?conversation={conversation.pk}")

    assert (
        '<p><strong>冰糖</strong>小火炒 <a class="library-moment" href="/videos/BV1xx411c7mD/1/?t=40">'
        "[V12 00:40]</a>。</p>" in html
    )
    assert '<a class="chip library-citation" href="/videos/BV1xx411c7mD/1/?t=40">红烧肉的做法 00:40</a>' in html


async def test_a_stored_series_summary_links_its_labels_to_their_moments() -> None:
    alice = await User.objects.acreate(username="alice")
    collection = await Collection.objects.acreate(owner=alice, kind="favourites", source_id="1", title="家常菜")
    link = {key: CITATION[key] for key in ("part_id", "bvid", "page", "video_title", "part_title", "start_ms")}
    await SeriesSummary.objects.acreate(
        collection=collection,
        language="zh",
        prompt_version="v1",
        model="m",
        inputs_key="k",
        status=SeriesSummary.Status.COMPLETE,
        content="## 概览\n都先炒糖色 [V12 00:40]",
        links=[{**link, "label": CITATION["label"], "url": CITATION["url"]}],
    )

    html = await apage(alice, f"/library/?collection={collection.pk}")

    assert (
        '<h2>概览</h2>\n<p>都先炒糖色 <a class="library-moment" href="/videos/BV1xx411c7mD/1/?t=40">[V12 00:40]</a></p>'
        in html
    )
