"""SSE through a real daphne, read by httpx-sse: events arrive as they are made, not at the end."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from httpx_sse import connect_sse

from chat.models import Message
from tests.api_client import daphne_server, user_with_token
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI

pytestmark = pytest.mark.django_db(transaction=True)
TOKEN_DELAY = 0.05


# What the shared `llm` fixture (tests/fixtures.py) answers.
LLM_REPLY = "先把冰糖小火炒到枣红色 [02:20]，再下肉翻炒 [02:40]，加开水小火慢炖一小时 [03:40]。"


def timed_events(url: str, token: str, path: str, body: dict) -> list[tuple[float, str, dict]]:
    headers = {"Authorization": f"Bearer {token}"}
    events = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        with connect_sse(client, "POST", path, params={"stream": "true"}, json=body) as source:
            assert source.response.status_code == 200
            for event in source.iter_sse():
                events.append((time.monotonic(), event.event, event.json()))
    return events


def test_chat_answer_streams_over_a_real_daphne(llm: FakeOpenAI, settings: Any) -> None:
    llm.token_delay = TOKEN_DELAY
    _, token = user_with_token()
    async_to_sync(ready_part)()
    env = {"OPENAI_BASE_URL": settings.OPENAI_BASE_URL, "OPENAI_API_KEY": "test-key"}
    with daphne_server(**env) as url:
        events = timed_events(url, token, "/api/v1/videos/BV1xx411c7mD/parts/1/chat", {"question": "糖色怎么炒？"})

    names = [name for _, name, _ in events]
    assert names[0] == "start" and names[-2:] == ["citations", "done"], names
    tokens = [(at, data["text"]) for at, name, data in events if name == "token"]
    assert len(tokens) >= 10
    # Streamed: the first token came well before the last one, about TOKEN_DELAY apart.
    assert tokens[-1][0] - tokens[0][0] > (len(tokens) - 1) * TOKEN_DELAY * 0.5
    text = "".join(piece for _, piece in tokens)
    assert "枣红色" in text
    assert Message.objects.get(pk=events[-1][2]["message_id"]).content == text
