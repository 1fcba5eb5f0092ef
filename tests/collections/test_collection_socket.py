"""The collection page's progress socket (ws/collections/<id>/progress/): the owner gets every item
and the overall progress, then what changes, from the worker's group and the videos' groups;
4401 signed out, 4404 for a collection that is not theirs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from chatbili_site.routing import websocket_urlpatterns
from tests.collections.helpers import make_user
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import SEASON_LINK, SEASON_VIDEOS
from videos import consumers_collections
from videos.collection_ingest import collection_ingest
from videos.collections import collection_submit
from videos.models import Collection, CollectionItem
from videos.progress import progress_publish

pytestmark = [pytest.mark.django_db(transaction=True)]

router = URLRouter(websocket_urlpatterns)


async def opened(user: Any, collection_id: int) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(router, f"/ws/collections/{collection_id}/progress/")
    communicator.scope["user"] = user
    assert await communicator.connect() == (True, None)
    return communicator


async def frames_until_done(communicator: WebsocketCommunicator) -> list[dict]:
    frames = []
    while not (frames and frames[-1]["type"] == "collection" and frames[-1]["done"]):
        frames.append(await communicator.receive_json_from(timeout=30))
    return frames


async def season(username: str = "alice") -> tuple[Any, Collection]:
    user = await make_user(username)
    return user, await collection_submit(owner=user, text=SEASON_LINK)


async def test_signed_out_the_socket_is_closed_with_4401(bilibili: FakeBilibili) -> None:
    _, collection = await season()
    communicator = await opened(AnonymousUser(), collection.pk)
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": 4401,
        "reason": "not signed in",
    }


async def test_someone_elses_collection_is_closed_with_4404(bilibili: FakeBilibili) -> None:
    _, collection = await season("alice")
    bob = await make_user("bob")
    communicator = await opened(bob, collection.pk)
    assert await communicator.receive_output(timeout=5) == {
        "type": "websocket.close",
        "code": 4404,
        "reason": "no such collection",
    }


async def test_a_missing_collection_is_closed_with_4404() -> None:
    communicator = await opened(await make_user(), 987654)
    closed = await communicator.receive_output(timeout=5)
    assert (closed["type"], closed["code"]) == ("websocket.close", 4404)


async def test_the_owner_gets_every_item_then_the_overall_progress(bilibili: FakeBilibili) -> None:
    user, collection = await season()
    communicator = await opened(user, collection.pk)

    frames = [await communicator.receive_json_from(timeout=5) for _ in range(4)]

    assert [(f["type"], f.get("bvid"), f.get("state"), f["percent"]) for f in frames] == [
        *[("item", bvid, "queued", 0) for bvid, _ in SEASON_VIDEOS],
        ("collection", None, None, 0),
    ]
    assert (frames[-1]["total"], frames[-1]["finished"], frames[-1]["done"]) == (3, 0, False)
    await communicator.disconnect()


async def test_the_worker_s_progress_reaches_the_socket_until_every_item_is_ready(bilibili: FakeBilibili) -> None:
    user, collection = await season()
    communicator = await opened(user, collection.pk)

    worker = asyncio.create_task(collection_ingest(collection.pk))
    frames = await frames_until_done(communicator)
    assert await worker

    states = {frame["bvid"]: frame["state"] for frame in frames if frame["type"] == "item"}
    assert states == {bvid: "ready" for bvid, _ in SEASON_VIDEOS}
    assert any(frame["type"] == "item" and frame["state"] == "running" for frame in frames)
    assert (frames[-1]["finished"], frames[-1]["percent"]) == (3, 100)
    await communicator.disconnect()


async def test_a_video_s_progress_message_sends_its_item_without_waiting_for_the_rows(
    bilibili: FakeBilibili, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers_collections, "PROGRESS_POLL_SECONDS", 600)  # so only the message can do it
    user, collection = await season()
    communicator = await opened(user, collection.pk)
    for _ in range(4):
        await communicator.receive_json_from(timeout=5)
    bvid = SEASON_VIDEOS[1][0]
    await CollectionItem.objects.filter(collection=collection, bvid=bvid).aupdate(state=CollectionItem.State.SKIPPED)

    await progress_publish({"bvid": bvid, "page": 1, "stage": "ready", "percent": 100, "error": None})

    item = await communicator.receive_json_from(timeout=5)
    assert (item["type"], item["bvid"], item["state"], item["percent"]) == ("item", bvid, "skipped", 100)
    overall = await communicator.receive_json_from(timeout=5)
    assert (overall["type"], overall["finished"], overall["percent"]) == ("collection", 1, 33)
    await communicator.disconnect()
