"""Questions asked at the same moment share one embeddings request (`embed_question`, issue 12)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.errors import AppError
from tests.fakes.openai import FakeOpenAI, fake_embedding
from videos.embeddings import embed_question, offline_embedding
from videos.models import EMBEDDING_COLUMN_DIMENSIONS

DIMENSIONS = 8
QUESTIONS = ["红烧肉怎么做？", "要放多少糖？", "炖多久？"]


@pytest.fixture
def api(settings: Any, fake_server: Any) -> FakeOpenAI:
    """Embeddings through a local fake endpoint, with quick retries."""
    settings.OPENAI_API_KEY = "test-key"
    settings.EMBEDDING_MODEL = "fake-embedding"
    settings.EMBEDDING_DIMENSIONS = DIMENSIONS
    settings.EMBEDDING_BATCH_SIZE = 64
    settings.EMBEDDING_BATCH_MAX_TOKENS = 8000
    settings.EMBEDDING_RETRY_ATTEMPTS = 2
    settings.EMBEDDING_RETRY_BASE_DELAY_SECONDS = 0.01
    fake = FakeOpenAI(api_key="test-key")
    fake_server(fake.app, OPENAI_BASE_URL="/v1")
    return fake


def padded(vector: list[float]) -> list[float]:
    return vector + [0.0] * (EMBEDDING_COLUMN_DIMENSIONS - len(vector))


async def until_requested(api: FakeOpenAI, count: int = 1) -> None:
    """Wait (in the test's loop) until the fake has received `count` requests."""
    for _ in range(500):
        if len(api.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the fake received {len(api.requests)} requests, not {count}")


async def test_concurrent_questions_make_one_request(api: FakeOpenAI) -> None:
    await asyncio.gather(*(embed_question(question) for question in QUESTIONS))
    (request,) = api.requests
    assert request.body["input"] == QUESTIONS


async def test_each_concurrent_question_gets_its_own_vector(api: FakeOpenAI) -> None:
    vectors = await asyncio.gather(*(embed_question(question) for question in QUESTIONS))
    assert vectors == [padded(fake_embedding(question, DIMENSIONS)) for question in QUESTIONS]


async def test_a_question_asked_twice_at_once_is_sent_once(api: FakeOpenAI) -> None:
    first, second, other = await asyncio.gather(
        embed_question(QUESTIONS[0]), embed_question(QUESTIONS[0]), embed_question(QUESTIONS[1])
    )
    assert api.embedded_inputs == QUESTIONS[:2]
    assert first == second == padded(fake_embedding(QUESTIONS[0], DIMENSIONS))
    assert other == padded(fake_embedding(QUESTIONS[1], DIMENSIONS))


async def test_questions_asked_one_after_another_are_each_sent(api: FakeOpenAI) -> None:
    for question in QUESTIONS[:2]:
        await embed_question(question)
    assert [request.body["input"] for request in api.requests] == [[QUESTIONS[0]], [QUESTIONS[1]]]


async def test_a_batch_keeps_the_input_limit(api: FakeOpenAI, settings: Any) -> None:
    settings.EMBEDDING_BATCH_SIZE = 2
    await asyncio.gather(*(embed_question(question) for question in QUESTIONS))
    assert sorted(len(request.body["input"]) for request in api.requests) == [1, 2]


async def test_a_failure_reaches_every_waiter(api: FakeOpenAI) -> None:
    api.always_fail = 500
    outcomes = await asyncio.gather(*(embed_question(question) for question in QUESTIONS), return_exceptions=True)
    assert [(type(outcome), getattr(outcome, "code", None)) for outcome in outcomes] == [
        (AppError, "embedding_failed")
    ] * len(QUESTIONS)
    assert len(api.requests) == 2  # one batch, tried EMBEDDING_RETRY_ATTEMPTS times


async def test_a_cancelled_waiter_leaves_the_others_served(api: FakeOpenAI) -> None:
    """Even one waiting for the same text (the two share one place in the batch)."""
    api.embedding_delay = 0.2
    asked = [QUESTIONS[0], QUESTIONS[0], QUESTIONS[1]]
    waiters = [asyncio.ensure_future(embed_question(question)) for question in asked]
    await until_requested(api)
    waiters[0].cancel()
    rest = await asyncio.gather(*waiters[1:])
    assert waiters[0].cancelled()
    assert rest == [padded(fake_embedding(question, DIMENSIONS)) for question in asked[1:]]
    assert len(api.requests) == 1


async def test_an_empty_question_is_refused(api: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="empty"):
        await embed_question("  ")
    assert api.requests == []


async def test_offline_a_question_gets_the_offline_vector(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    settings.EMBEDDING_DIMENSIONS = DIMENSIONS
    vectors = await asyncio.gather(*(embed_question(question) for question in QUESTIONS))
    assert vectors == [padded(offline_embedding(question, DIMENSIONS)) for question in QUESTIONS]
