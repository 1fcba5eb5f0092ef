"""The video page's comment drafts over its websocket: client `comments` {tone} → stream "comments"."""

from __future__ import annotations

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from chat.models import CommentDraftSet
from chat.routing import websocket_urlpatterns
from tests.factories import ready_part

pytestmark = pytest.mark.django_db(transaction=True)


async def comments_frames(tone: str) -> list[dict]:
    await ready_part()
    user = await User.objects.acreate_user("alice", password="a-long-pass-phrase-9")
    communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/videos/BV1xx411c7mD/1/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    try:
        assert (await communicator.receive_json_from())["type"] == "progress"
        await communicator.send_json_to({"type": "comments", "tone": tone, "language": "zh"})
        frames = [await communicator.receive_json_from(timeout=20)]
        while frames[-1]["type"] not in ("done", "error"):
            frames.append(await communicator.receive_json_from(timeout=20))
    finally:
        await communicator.disconnect()
    return frames


async def test_comment_drafts_stream_over_the_socket() -> None:
    frames = await comments_frames("幽默")

    assert {frame["stream"] for frame in frames} == {"comments"}
    assert frames[0]["type"] == "start" and frames[0]["offline"] is True
    done = frames[-1]
    assert done["type"] == "done" and len(done["drafts"]) == 3
    assert await CommentDraftSet.objects.filter(pk=done["comment_set"]["id"], tone="幽默").aexists()


async def test_an_unknown_tone_is_an_error_frame() -> None:
    frames = await comments_frames("阴阳怪气")

    assert frames == [frames[-1]]
    assert (frames[0]["type"], frames[0]["code"], frames[0]["stream"]) == ("error", "bad_tone", "comments")
