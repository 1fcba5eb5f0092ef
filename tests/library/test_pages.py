"""The My library page: my videos and search hits only, someone else's conversation not shown;
a moment link opens the video page's player at that second."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import Client

from chat.models import Conversation, Message
from tests.library.helpers import PORK, WINGS, aown, two_videos

pytestmark = pytest.mark.django_db(transaction=True)


def page(user: User, path: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


apage = sync_to_async(page)


async def test_the_library_page_lists_and_searches_only_my_videos() -> None:
    alice = await User.objects.acreate(username="alice")
    bob = await User.objects.acreate(username="bob")
    pork, wings = await two_videos()
    await aown(alice, pork)
    await aown(bob, wings)

    html = await apage(alice, "/library/?q=怎么炒糖色")

    assert f'href="/videos/{PORK}/1/?t=' in html
    assert WINGS not in html


async def test_someone_elses_conversation_is_not_shown_on_my_library_page() -> None:
    alice = await User.objects.acreate(username="alice")
    bob = await User.objects.acreate(username="bob")
    conversation = await Conversation.objects.acreate(user=bob, scope="library", title="bob's")
    await Message.objects.acreate(conversation=conversation, role="user", content="鲍勃的秘密问题")

    html = await apage(alice, f"/library/?conversation={conversation.pk}")

    assert "鲍勃的秘密问题" not in html


async def test_a_moment_link_starts_the_player_at_that_second() -> None:
    alice = await User.objects.acreate(username="alice")
    pork, _ = await two_videos()
    await aown(alice, pork)

    html = await apage(alice, f"/videos/{PORK}/1/?t=120")

    assert f"bvid={PORK}&amp;p=1&amp;t=120&amp;" in html
