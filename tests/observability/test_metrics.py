"""/metrics: who may read it, and the counters a summary, a chat, an ingest and a refusal leave there."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from chat.models import UsageRecord
from chat.routing import websocket_urlpatterns
from chatbili_site.observability import WebsocketObservability
from tests.commands import run_command
from tests.factories import ready_part
from videos.tasks import ingest_part_task

pytestmark = pytest.mark.django_db(transaction=True)

LLM_REPLY = "红烧肉先焯水，再炒糖色。"
socket_app = WebsocketObservability(URLRouter(websocket_urlpatterns))


def scrape(client: Client | None = None, **headers: Any) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = (client or Client()).get("/metrics", REMOTE_ADDR="127.0.0.1", **headers)
    assert response.status_code == 200
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_answer_the_local_address_in_the_prometheus_format() -> None:
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"


def test_metrics_are_not_found_from_another_address() -> None:
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 404


def test_a_proxied_request_is_not_local_even_from_loopback() -> None:
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert response.status_code == 404


def test_the_token_opens_metrics_to_another_address(settings) -> None:
    settings.METRICS_TOKEN = "scrape-secret"
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert response.status_code == 200


def test_a_wrong_token_is_not_found(settings) -> None:
    settings.METRICS_TOKEN = "scrape-secret"
    response = Client().get("/metrics", REMOTE_ADDR="203.0.113.7", HTTP_AUTHORIZATION="Bearer guess")
    assert response.status_code == 404


def test_an_allowed_network_opens_metrics(settings) -> None:
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    response = Client().get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200


def test_requests_are_counted_by_view_and_status() -> None:
    before = scrape()
    Client().get("/healthz")
    after = scrape()
    labels = {"method": "GET", "view": "healthz", "status": "200"}
    assert (
        value(after, "chatbili_http_requests_total", **labels) - value(before, "chatbili_http_requests_total", **labels)
        == 1
    )


def test_the_queue_depth_counts_waiting_tasks() -> None:
    ingest_part_task.enqueue(12345)
    samples = scrape()
    assert value(samples, "chatbili_task_queue_depth", queue="default", status="ready") == 1


async def test_a_summary_counts_an_llm_call_and_its_tokens(llm) -> None:
    await ready_part()
    before = await sync_to_async(scrape)()
    await asyncio.to_thread(run_command, "summarize", "BV1xx411c7mD")
    after = await sync_to_async(scrape)()
    record = await UsageRecord.objects.aget(purpose="summary")
    calls = {"purpose": "summary", "model": "fake-chat", "status": "complete"}
    completion = {"purpose": "summary", "model": "fake-chat", "kind": "completion"}
    assert value(after, "chatbili_llm_calls_total", **calls) - value(before, "chatbili_llm_calls_total", **calls) == 1
    assert (
        value(after, "chatbili_llm_tokens_total", **completion)
        - value(before, "chatbili_llm_tokens_total", **completion)
        == record.completion_tokens
    )


async def test_a_chat_over_the_websocket_counts_its_socket_frames_and_stream(llm) -> None:
    await ready_part()
    user = await get_user_model().objects.acreate(username="metrics-chat")
    before = await sync_to_async(scrape)()
    communicator = WebsocketCommunicator(socket_app, "/ws/videos/BV1xx411c7mD/1/")
    communicator.scope["user"] = user
    await communicator.connect()
    await communicator.receive_json_from(timeout=5)  # progress
    await communicator.send_json_to({"type": "ask", "question": "糖色怎么炒？"})
    while (await communicator.receive_json_from(timeout=10))["type"] != "done":
        pass
    await communicator.disconnect()
    after = await sync_to_async(scrape)()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("chatbili_websocket_connections_opened_total", route="video") == 1
    assert grew("chatbili_websocket_connections_closed_total", route="video") == 1
    assert grew("chatbili_websocket_frames_total", direction="in", type="ask") == 1
    assert grew("chatbili_websocket_frames_total", direction="out", type="done") == 1
    assert grew("chatbili_websocket_stream_duration_seconds_count", stream="answer", outcome="done") == 1
    assert grew("chatbili_websocket_first_token_seconds_count", stream="answer") == 1
    assert grew("chatbili_llm_calls_total", purpose="chat", model="fake-chat", status="complete") == 1


async def test_a_quota_refusal_is_counted(settings) -> None:
    settings.QUOTA_DAILY_TOKENS = 50
    await ready_part()
    user = await get_user_model().objects.acreate(username="metrics-quota")
    await UsageRecord.objects.acreate(user=user, purpose="chat", model="m", prompt_tokens=50)
    before = await sync_to_async(scrape)()
    communicator = WebsocketCommunicator(socket_app, "/ws/videos/BV1xx411c7mD/1/")
    communicator.scope["user"] = user
    await communicator.connect()
    await communicator.receive_json_from(timeout=5)  # progress
    await communicator.send_json_to({"type": "ask", "question": "糖色？"})
    error = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    after = await sync_to_async(scrape)()
    assert error["code"] == "quota_exceeded"
    grew = value(after, "chatbili_quota_rejections_total", code="quota_exceeded") - value(
        before, "chatbili_quota_rejections_total", code="quota_exceeded"
    )
    assert grew == 1


async def test_an_ingest_records_each_stage_and_its_outcome(bilibili) -> None:
    from videos import services
    from videos.ingest import part_ingest
    from videos.submission import video_submit

    part = await video_submit("BV117411r7R1")
    await sync_to_async(services.part_queue)(part_id=part.pk)
    before = await sync_to_async(scrape)()
    assert await part_ingest(part.pk)
    after = await sync_to_async(scrape)()
    stages = ("metadata", "transcript", "chunks", "embeddings")
    grown = [
        value(after, "chatbili_ingest_stage_duration_seconds_count", stage=stage)
        - value(before, "chatbili_ingest_stage_duration_seconds_count", stage=stage)
        for stage in stages
    ]
    assert grown == [1, 1, 1, 1]
    ready = value(after, "chatbili_ingest_parts_total", outcome="ready") - value(
        before, "chatbili_ingest_parts_total", outcome="ready"
    )
    assert ready == 1
