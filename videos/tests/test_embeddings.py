"""Embeddings: batches by count and tokens, nothing dropped, retries, the offline embedder."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from django.conf import settings as django_settings

from core.errors import AppError
from core.tokens import count_tokens
from tests.fakes.openai import FakeOpenAI, fake_embedding
from videos.embeddings import (
    MAX_INPUT_TOKENS,
    embed_texts,
    embedding_batches,
    embedding_space,
    offline_embedding,
)
from videos.models import EMBEDDING_COLUMN_DIMENSIONS

DIMENSIONS = 8


@pytest.fixture
def api(settings: Any, fake_server: Any) -> FakeOpenAI:
    """Embeddings through a local fake endpoint, with small batches and quick retries."""
    settings.OPENAI_API_KEY = "test-key"
    settings.EMBEDDING_MODEL = "fake-embedding"
    settings.EMBEDDING_DIMENSIONS = DIMENSIONS
    settings.EMBEDDING_BATCH_SIZE = 3
    settings.EMBEDDING_BATCH_MAX_TOKENS = 100
    settings.EMBEDDING_CONCURRENCY = 2
    settings.EMBEDDING_RETRY_ATTEMPTS = 3
    settings.EMBEDDING_RETRY_BASE_DELAY_SECONDS = 0.01
    fake = FakeOpenAI(api_key="test-key", embedding_dimensions=16)
    fake_server(fake.app, OPENAI_BASE_URL="/v1")
    return fake


def padded(vector: list[float]) -> list[float]:
    return vector + [0.0] * (EMBEDDING_COLUMN_DIMENSIONS - len(vector))


def texts_of_mixed_size(count: int) -> list[str]:
    """Short lines and lines of about 55 tokens in turn, so both batch limits come into play."""
    return [f"第{n}段：" + ("量子计算机的原理" * 6 if n % 2 == 0 else "你好") for n in range(count)]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))


# --- The space key ----------------------------------------------------------------------------


def test_embedding_space_names_the_model_and_dimensions(settings: Any) -> None:
    settings.EMBEDDING_MODEL, settings.EMBEDDING_DIMENSIONS = "text-embedding-3-small", 512
    settings.OPENAI_API_KEY = ""
    assert embedding_space() == "offline-ngram-v1@512"
    settings.OPENAI_API_KEY = "sk-test"
    assert embedding_space() == "text-embedding-3-small@512"


# --- Batches ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "max_inputs", "max_tokens", "expected"),
    [
        ([1, 1, 1, 1, 1], 2, 100, [[0, 1], [2, 3], [4]]),
        ([40, 40, 40, 10], 10, 100, [[0, 1], [2, 3]]),
        ([150, 10, 10], 10, 100, [[0], [1, 2]]),  # too big for any batch: alone
        ([10, 150, 10], 10, 100, [[0], [1], [2]]),
        ([], 10, 100, []),
    ],
)
def test_embedding_batches(tokens: list[int], max_inputs: int, max_tokens: int, expected: list[list[int]]) -> None:
    assert embedding_batches(tokens, max_inputs=max_inputs, max_tokens=max_tokens) == expected


async def test_batched_by_count_and_tokens_with_every_input_sent_once(api: FakeOpenAI) -> None:
    texts = texts_of_mixed_size(20)
    vectors = await embed_texts(texts)

    assert Counter(api.embedded_inputs) == Counter(texts)  # each exactly once
    batches = [request.body["input"] for request in api.answered("/v1/embeddings")]
    assert all(len(batch) <= 3 for batch in batches)
    assert all(sum(count_tokens(text) for text in batch) <= 100 for batch in batches)
    assert any(len(batch) < 3 for batch in batches[:-1])  # some closed by the token budget
    assert vectors == [padded(fake_embedding(text, DIMENSIONS)) for text in texts]
    request = api.requests[0]
    assert request.body["model"] == "fake-embedding"
    assert request.body["dimensions"] == DIMENSIONS
    assert request.body["encoding_format"] == "float"
    assert request.headers["authorization"] == "Bearer test-key"


async def test_vectors_are_matched_to_inputs_by_index(api: FakeOpenAI) -> None:
    api.reverse_embeddings = True
    texts = ["甲", "乙", "丙", "丁"]
    vectors = await embed_texts(texts)
    assert vectors == [padded(fake_embedding(text, DIMENSIONS)) for text in texts]


async def test_the_request_is_sent_exactly_as_built(api: FakeOpenAI) -> None:
    await embed_texts(["甲"])
    assert api.requests[0].body == {
        "model": "fake-embedding",
        "input": ["甲"],
        "encoding_format": "float",
        "dimensions": DIMENSIONS,
    }


async def test_the_sdks_params_transform_is_not_used(api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the params went through the SDK's transform")

    monkeypatch.setattr("openai.resources.embeddings.async_maybe_transform", refuse)
    assert await embed_texts(["甲"]) == [padded(fake_embedding("甲", DIMENSIONS))]


async def test_batches_run_concurrently_up_to_the_limit(api: FakeOpenAI) -> None:
    api.embedding_delay = 0.05
    await embed_texts([f"第{n}句" for n in range(24)])  # 8 batches of 3
    assert len(api.answered("/v1/embeddings")) == 8
    assert api.max_in_flight == 2


async def test_progress_is_reported_as_batches_finish(api: FakeOpenAI) -> None:
    sync_calls: list[tuple[int, int]] = []
    async_calls: list[tuple[int, int]] = []

    async def on_progress(done: int, total: int) -> None:
        async_calls.append((done, total))

    await embed_texts([f"第{n}句" for n in range(7)], on_progress=lambda done, total: sync_calls.append((done, total)))
    await embed_texts([f"第{n}句" for n in range(7)], on_progress=on_progress)
    for calls in (sync_calls, async_calls):
        assert len(calls) == 3
        assert [done for done, _ in calls] == sorted(done for done, _ in calls)
        assert calls[-1] == (7, 7)
        assert {total for _, total in calls} == {7}


# --- Failures ---------------------------------------------------------------------------------


async def test_a_429_is_retried_then_succeeds(api: FakeOpenAI) -> None:
    api.failures = [429]
    vectors = await embed_texts(["你好", "世界"])
    assert vectors[1] == padded(fake_embedding("世界", DIMENSIONS))
    assert [request.status for request in api.requests] == [429, 200]
    assert api.requests[0].body == api.requests[1].body


async def test_a_500_that_never_stops_becomes_a_retryable_error(api: FakeOpenAI) -> None:
    api.always_fail = 500
    with pytest.raises(AppError) as caught:
        await embed_texts(["你好"])
    assert (caught.value.code, caught.value.status, caught.value.retryable) == ("embedding_failed", 502, True)
    assert caught.value.params["reason"].startswith("HTTP 500: ")
    assert len(api.requests) == 3  # EMBEDDING_RETRY_ATTEMPTS


async def test_a_reply_missing_an_embedding_is_never_accepted(api: FakeOpenAI) -> None:
    api.drop_embeddings = True
    with pytest.raises(AppError) as caught:
        await embed_texts(["一", "二"])
    assert (caught.value.code, caught.value.params) == ("embedding_failed", {"reason": "1 embeddings for 2 inputs"})
    assert len(api.requests) == 3


async def test_a_reply_cut_off_mid_body_is_retried_then_fails(api: FakeOpenAI, fake_server: Any) -> None:
    tries: list[int] = []

    async def cut_off(scope: dict, receive: Any, send: Any) -> None:
        tries.append(1)
        headers = [(b"content-type", b"application/json"), (b"content-length", b"1000")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b'{"data": [', "more_body": True})
        raise RuntimeError("connection lost")  # uvicorn drops the connection

    fake_server(cut_off, OPENAI_BASE_URL="/v1")
    with pytest.raises(AppError) as caught:
        await embed_texts(["你好"])
    assert (caught.value.code, len(tries)) == ("embedding_failed", 3)


async def test_a_wrong_key_fails_at_once_and_permanently(api: FakeOpenAI) -> None:
    api.api_key = "another-key"
    with pytest.raises(AppError) as caught:
        await embed_texts(["你好"])
    assert (caught.value.code, caught.value.retryable) == ("embedding_rejected", False)
    assert caught.value.params["reason"].startswith("HTTP 401: ")
    assert len(api.requests) == 1


async def test_an_unreachable_endpoint_is_retried_then_fails(settings: Any) -> None:
    settings.OPENAI_API_KEY = "test-key"
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    settings.EMBEDDING_RETRY_ATTEMPTS = 2
    settings.EMBEDDING_RETRY_BASE_DELAY_SECONDS = 0.01
    with pytest.raises(AppError) as caught:
        await embed_texts(["你好"])
    assert (caught.value.code, caught.value.retryable) == ("embedding_failed", True)


async def test_dimensions_are_dropped_when_the_model_refuses_them(api: FakeOpenAI, settings: Any) -> None:
    api.reject_dimensions = True
    settings.EMBEDDING_DIMENSIONS = 16  # the model's own size
    texts = [f"第{n}句" for n in range(6)]
    vectors = await embed_texts(texts)
    assert vectors == [padded(fake_embedding(text, 16)) for text in texts]
    assert api.requests[0].status == 400 and "dimensions" in api.requests[0].body
    assert all("dimensions" not in request.body for request in api.answered("/v1/embeddings"))


async def test_vectors_of_the_wrong_size_are_an_error_not_retried(api: FakeOpenAI) -> None:
    api.reject_dimensions = True  # the fallback then gets 16 numbers, not 8
    with pytest.raises(AppError) as caught:
        await embed_texts(["你好"])
    assert (caught.value.code, caught.value.retryable) == ("embedding_dimensions_mismatch", False)
    assert caught.value.message("en") == "The embedding model returned 16 dimensions, but EMBEDDING_DIMENSIONS is 8"


async def test_inputs_are_cut_to_the_model_limit(api: FakeOpenAI, settings: Any) -> None:
    settings.EMBEDDING_BATCH_MAX_TOKENS = 100_000
    long_text = "量子" * 6000
    await embed_texts([long_text, "短句"])
    sent = api.embedded_inputs
    assert long_text.startswith(sent[0]) and len(sent[0]) < len(long_text)
    assert MAX_INPUT_TOKENS - 5 <= count_tokens(sent[0]) <= MAX_INPUT_TOKENS
    assert sent[1] == "短句"


async def test_outbound_proxy_carries_the_requests(api: FakeOpenAI, settings: Any, fake_server: Any) -> None:
    seen: list[str] = []

    async def proxy(scope: dict[str, Any], receive: Any, send: Any) -> None:
        """A forward proxy in miniature: it gets absolute URLs and answers as the fake API."""
        seen.append(scope["path"])
        path = "/" + scope["path"].split("/", 3)[3]
        await api.app(dict(scope, path=path, raw_path=path.encode()), receive, send)

    proxy_server = fake_server(proxy)
    settings.OUTBOUND_PROXY = proxy_server.url
    settings.OPENAI_BASE_URL = "http://embeddings.invalid/v1"  # reachable only through the proxy
    vectors = await embed_texts(["你好"])
    assert seen == ["http://embeddings.invalid/v1/embeddings"]
    assert vectors[0] == padded(fake_embedding("你好", DIMENSIONS))


async def test_empty_inputs(api: FakeOpenAI) -> None:
    assert await embed_texts([]) == []
    with pytest.raises(ValueError, match="empty"):
        await embed_texts(["你好", "  "])
    assert api.requests == []


# --- The offline embedder ---------------------------------------------------------------------

CHUNKS = [
    "今天我们来聊一聊量子计算机的基本原理，量子比特可以处于叠加态，这和经典比特完全不同。",
    "红烧肉的做法其实很简单，先把五花肉切块焯水，然后加冰糖炒糖色，再放酱油和料酒慢炖一个小时。",
    "这款手机的电池续航非常出色，重度使用一天下来还剩百分之三十的电量，充电速度也很快。",
    "深度学习模型的训练需要大量的数据和算力，GPU 的并行计算能力让训练速度大大提高。",
    "我们这次去了成都旅游，吃了火锅，看了大熊猫，还去了宽窄巷子逛街。",
]
QUESTIONS = [
    "量子比特和经典比特有什么区别？",
    "红烧肉怎么做？",
    "手机电池能用多久",
    "训练深度学习模型需要什么",
    "在成都吃了什么",
]


async def test_offline_vectors_are_deterministic_normalised_and_padded(settings: Any) -> None:
    settings.EMBEDDING_DIMENSIONS = 256
    first = await embed_texts(CHUNKS)
    again = await embed_texts(list(CHUNKS))
    assert first == again
    for vector in first:
        assert len(vector) == EMBEDDING_COLUMN_DIMENSIONS
        assert all(value == 0.0 for value in vector[256:])
        assert math.hypot(*vector[:256]) == pytest.approx(1.0)
    assert first[0][:256] == offline_embedding(CHUNKS[0], 256)


@pytest.mark.parametrize("dimensions", [256, 1024])
async def test_offline_embedder_ranks_the_related_chunk_first(settings: Any, dimensions: int) -> None:
    settings.EMBEDDING_DIMENSIONS = dimensions
    chunk_vectors = await embed_texts(CHUNKS)
    question_vectors = await embed_texts(QUESTIONS)
    for expected, question in enumerate(question_vectors):
        scores = [cosine(question, chunk) for chunk in chunk_vectors]
        assert max(range(len(CHUNKS)), key=scores.__getitem__) == expected, (QUESTIONS[expected], scores)


def test_offline_embedder_does_not_depend_on_python_hash_seed() -> None:
    """blake2b, not hash(): a process with another PYTHONHASHSEED gets the same vector."""
    code = (
        "import django, json, sys; django.setup(); from videos.embeddings import offline_embedding; "
        "print(json.dumps(offline_embedding(sys.argv[1], 64)))"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "12345", "DJANGO_SETTINGS_MODULE": "tests.settings"}
    output = subprocess.run(
        [sys.executable, "-c", code, CHUNKS[0]],
        env={**environment, "PYTHONPATH": str(django_settings.BASE_DIR)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(output) == offline_embedding(CHUNKS[0], 64)


def test_offline_embedding_of_text_without_words_is_still_a_unit_vector() -> None:
    vector = offline_embedding("？！……", 32)
    assert math.hypot(*vector) == pytest.approx(1.0)
