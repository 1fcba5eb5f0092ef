"""The one module that turns text into vectors.

With OPENAI_API_KEY set, texts go to the OpenAI-compatible `/embeddings` endpoint at
OPENAI_BASE_URL (model EMBEDDING_MODEL), in batches bounded by EMBEDDING_BATCH_SIZE inputs and
EMBEDDING_BATCH_MAX_TOKENS tokens, EMBEDDING_CONCURRENCY at a time, each retried on 429, 5xx and
connection errors up to EMBEDDING_RETRY_ATTEMPTS times.

`dimensions=EMBEDDING_DIMENSIONS` is always sent first. Models that do not take it (OpenAI's
ada-002, many self-hosted ones) answer 400 or 422; the request is then repeated once without it,
and the rest of the call leaves it out. Either way every vector must come back with exactly
EMBEDDING_DIMENSIONS numbers, or the call fails with a permanent error that names the size the
server returned.

`embed_question` embeds one chat question; the questions asked at the same moment on one event
loop share one request (issue 12).

Without a key, a deterministic offline embedder (hashed character n-grams) stands in, so the
site works with no network at all. Vectors of the two never mix: `embedding_space()` names the
space a vector belongs to, and every vector query filters on it.

All vectors are zero-padded to the width of the database column (cosine is unchanged).
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import math
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import httpx2
import jiter
import openai
from django.conf import settings

from core.concurrency import gather_or_cancel
from core.errors import AppError
from core.http import RetryPolicy, openai_post_streamed, retry_after_seconds, shared_openai_client, with_retries
from core.tokens import count_tokens, prefix_within_tokens
from videos.errors import EMBEDDING_DIMENSIONS_MISMATCH, EMBEDDING_FAILED, EMBEDDING_REJECTED
from videos.models import EMBEDDING_COLUMN_DIMENSIONS
from videos.search_text import text_runs

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], Awaitable[None] | None]

OFFLINE_MODEL = "offline-ngram-v1"
# OpenAI's embedding models take at most 8192 tokens per input; longer inputs are cut.
MAX_INPUT_TOKENS = 8191
RETRYABLE_STATUS_CODES = frozenset({408, 409, 429})
MAX_RETRY_DELAY_SECONDS = 30.0


def embedding_space() -> str:
    """The key of the vector space `embed_texts` produces now: "<model>@<dimensions>"."""
    model = settings.EMBEDDING_MODEL if settings.OPENAI_API_KEY else OFFLINE_MODEL
    return f"{model}@{settings.EMBEDDING_DIMENSIONS}"


async def embed_texts(texts: Sequence[str], *, on_progress: ProgressCallback | None = None) -> list[list[float]]:
    """One vector per text, in input order, each EMBEDDING_COLUMN_DIMENSIONS long (zero-padded).

    `on_progress(done, total)` (plain or async) is called with counts of texts as batches finish.
    Raises AppError(EMBEDDING_FAILED) when the endpoint keeps failing (EMBEDDING_REJECTED when it refuses).
    """
    texts = list(texts)
    for position, text in enumerate(texts):
        if not text.strip():
            raise ValueError(f"text {position} is empty; there is nothing to embed")
    if not texts:
        return []
    if settings.OPENAI_API_KEY:
        vectors = await _embed_with_api(texts, on_progress)
    else:
        vectors = await _embed_offline(texts, on_progress)
    return [pad_vector(vector) for vector in vectors]


def pad_vector(vector: Sequence[float]) -> list[float]:
    """Zero-pad a vector to the width of the database column."""
    if len(vector) > EMBEDDING_COLUMN_DIMENSIONS:
        raise ValueError(f"a {len(vector)}-dimensional vector does not fit in {EMBEDDING_COLUMN_DIMENSIONS}")
    return [*vector, *([0.0] * (EMBEDDING_COLUMN_DIMENSIONS - len(vector)))]


async def _report(on_progress: ProgressCallback | None, done: int, total: int) -> None:
    if on_progress is not None:
        result = on_progress(done, total)
        if inspect.isawaitable(result):
            await result


# --- Batches ----------------------------------------------------------------------------------


def embedding_batches(token_counts: Sequence[int], *, max_inputs: int, max_tokens: int) -> list[list[int]]:
    """Split input positions into consecutive batches of at most `max_inputs` inputs and
    `max_tokens` tokens. An input bigger than `max_tokens` goes alone in its batch.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    current_tokens = 0
    for position, tokens in enumerate(token_counts):
        if current and (len(current) >= max_inputs or current_tokens + tokens > max_tokens):
            batches.append(current)
            current, current_tokens = [], 0
        current.append(position)
        current_tokens += tokens
    if current:
        batches.append(current)
    return batches


def _within_input_limit(text: str) -> str:
    length = prefix_within_tokens(text, MAX_INPUT_TOKENS)
    if length < len(text):
        logger.warning("embedding input cut from %d to %d characters (token limit)", len(text), length)
    return text[:length]


# --- One question at a time, many at once ------------------------------------------------------

# How long the first question of a batch waits for others to join it (hidden by the saving of the
# question, which runs meanwhile: chat.conversations.answer_stream).
QUESTION_BATCH_WINDOW_SECONDS = 0.002

_question_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future]] = (
    weakref.WeakKeyDictionary()
)
_question_requests: set[asyncio.Task] = set()  # running batch requests (the loop keeps only weak references)


async def embed_question(text: str) -> list[float]:
    """One text's vector, like `embed_texts([text])`, but the questions that many users ask at once
    on this event loop share one embeddings request (issue 12): the first opens a batch that is sent
    QUESTION_BATCH_WINDOW_SECONDS later, the same text is sent once, the batch keeps the input and
    token limits and retries of `embed_texts`, and its failure is every waiter's. A waiter that is
    cancelled leaves the request running for the others. Offline, it is `embed_texts([text])`.
    """
    if not text.strip():
        raise ValueError("the question is empty; there is nothing to embed")
    if not settings.OPENAI_API_KEY:
        (vector,) = await embed_texts([text])
        return vector
    loop = asyncio.get_running_loop()
    batch = _question_batches.get(loop)
    if batch is None:
        batch = _question_batches[loop] = {}
        loop.call_later(QUESTION_BATCH_WINDOW_SECONDS, _send_question_batch, loop)
    waiter = batch.get(text)
    if waiter is None:
        waiter = batch[text] = loop.create_future()
    vector = await asyncio.shield(waiter)  # a cancelled caller does not cancel the shared request
    return list(vector)  # each caller its own list


def _send_question_batch(loop: asyncio.AbstractEventLoop) -> None:
    batch = _question_batches.pop(loop)
    task = loop.create_task(_answer_question_batch(batch))
    _question_requests.add(task)
    task.add_done_callback(_question_requests.discard)


async def _answer_question_batch(batch: dict[str, asyncio.Future]) -> None:
    """Embed the batch's texts and hand each waiter its vector, or the call's error."""
    try:
        vectors = await embed_texts(list(batch))
    except asyncio.CancelledError:  # the loop is closing
        for waiter in batch.values():
            waiter.cancel()
        raise
    except Exception as exc:  # noqa: BLE001 - each waiter gets the error its own call would have raised
        for waiter in batch.values():
            if not waiter.done():
                waiter.set_exception(exc)
        return
    for waiter, vector in zip(batch.values(), vectors, strict=True):
        if not waiter.done():
            waiter.set_result(vector)


# --- The OpenAI-compatible endpoint ------------------------------------------------------------


@dataclass
class _CallState:
    """Shared by the batches of one call: whether `dimensions` is still sent."""

    send_dimensions: bool = True


class _BadResponse(Exception):
    """The endpoint answered, but not with one embedding per input."""


async def _embed_with_api(texts: list[str], on_progress: ProgressCallback | None) -> list[list[float]]:
    inputs = [_within_input_limit(text) for text in texts]
    batches = embedding_batches(
        [count_tokens(text) for text in inputs],
        max_inputs=settings.EMBEDDING_BATCH_SIZE,
        max_tokens=settings.EMBEDDING_BATCH_MAX_TOKENS,
    )
    vectors: list[list[float]] = [[] for _ in inputs]
    semaphore = asyncio.Semaphore(settings.EMBEDDING_CONCURRENCY)
    state = _CallState()
    done = 0

    async def run(client: openai.AsyncOpenAI, batch: list[int]) -> None:
        nonlocal done
        async with semaphore:
            batch_vectors = await _embed_batch(client, [inputs[position] for position in batch], state)
        for position, vector in zip(batch, batch_vectors, strict=True):
            vectors[position] = vector
        done += len(batch)
        await _report(on_progress, done, len(inputs))

    client = shared_openai_client()  # the loop's kept-alive client
    await gather_or_cancel([run(client, batch) for batch in batches])
    return vectors


async def _embed_batch(client: openai.AsyncOpenAI, inputs: list[str], state: _CallState) -> list[list[float]]:
    """One batch, retried on 429, 5xx, connection errors and short replies (EMBEDDING_RETRY_*)."""
    policy = RetryPolicy(
        attempts=settings.EMBEDDING_RETRY_ATTEMPTS,
        base_delay=settings.EMBEDDING_RETRY_BASE_DELAY_SECONDS,
        max_delay=MAX_RETRY_DELAY_SECONDS,
    )
    try:
        return await with_retries(
            lambda: _embed_batch_once(client, inputs, state),
            policy=policy,
            is_retryable=_is_retryable,
            server_delay=_server_delay,
            what="embedding batch",
        )
    except (openai.APIStatusError, openai.APIConnectionError, _BadResponse) as exc:
        raise _failure(exc, retryable=_is_retryable(exc)) from exc


async def _embed_batch_once(client: openai.AsyncOpenAI, inputs: list[str], state: _CallState) -> list[list[float]]:
    """One try; a 400/422 to `dimensions` is answered by asking again without it (not a retry)."""
    sent_dimensions = state.send_dimensions
    try:
        return await _request_embeddings(client, inputs, send_dimensions=sent_dimensions)
    except openai.APIStatusError as exc:
        if exc.status_code not in (400, 422) or not sent_dimensions:
            raise
        logger.info("embedding endpoint refused `dimensions` (%s); retrying without it", exc.status_code)
        state.send_dimensions = False
    return await _request_embeddings(client, inputs, send_dimensions=False)


async def _request_embeddings(
    client: openai.AsyncOpenAI, inputs: list[str], *, send_dimensions: bool
) -> list[list[float]]:
    dimensions = settings.EMBEDDING_DIMENSIONS
    request: dict = {"model": settings.EMBEDDING_MODEL, "input": inputs, "encoding_format": "float"}
    if send_dimensions:
        request["dimensions"] = dimensions
    response = await openai_post_streamed(client, "/embeddings", request)  # the SDK, without its params transform
    try:
        body = await response.aread()
    except httpx2.TimeoutException as exc:  # a body cut off is a connection error, retried like one
        raise openai.APITimeoutError(request=response.request) from exc
    except httpx2.RequestError as exc:
        raise openai.APIConnectionError(request=response.request) from exc
    finally:
        await response.aclose()
    items = _embedding_items(body)
    by_index = {item["index"]: item["embedding"] for item in items}
    if len(items) != len(inputs) or sorted(by_index) != list(range(len(inputs))):
        raise _BadResponse(f"{len(items)} embeddings for {len(inputs)} inputs")
    vectors = [by_index[index] for index in range(len(inputs))]
    for vector in vectors:
        if len(vector) != dimensions:
            raise AppError(EMBEDDING_DIMENSIONS_MISMATCH, got=len(vector), expected=dimensions)
    return vectors


def _embedding_items(body: bytes) -> list[dict]:
    """The response's `data` items, read with jiter: the SDK's model would build an object per
    number (a 1024-float vector cost ~10 ms of CPU per question; issue 12)."""
    try:
        data = jiter.from_json(body).get("data")
    except (ValueError, AttributeError) as exc:
        raise _BadResponse(f"unreadable embeddings response: {exc}") from exc
    good = isinstance(data, list) and all(
        isinstance(item, dict) and isinstance(item.get("index"), int) and isinstance(item.get("embedding"), list)
        for item in data
    )
    if not good:
        raise _BadResponse("embeddings response without data items of index and embedding")
    return data


def _is_retryable(error: Exception) -> bool:
    """429, 408, 409 and 5xx, connection errors and replies without one embedding per input."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code in RETRYABLE_STATUS_CODES or error.status_code >= 500
    return isinstance(error, openai.APIConnectionError | _BadResponse)


def _server_delay(error: Exception) -> float | None:
    """The server's Retry-After, if it sent one."""
    return retry_after_seconds(error.response.headers) if isinstance(error, openai.APIStatusError) else None


def _failure(error: Exception, *, retryable: bool) -> AppError:
    detail = getattr(error, "message", None) or str(error)
    status = getattr(error, "status_code", None)
    reason = f"HTTP {status}: {detail}" if status else detail
    return AppError(EMBEDDING_FAILED if retryable else EMBEDDING_REJECTED, reason=reason)


# --- The offline embedder ---------------------------------------------------------------------

# Characters too common to say anything on their own; n-grams made only of them are skipped too.
OFFLINE_STOP_CHARS = frozenset("的了是在我你他她它这那有和就都也吗呢吧啊呀么个之与及或")
NGRAM_SIZES = (1, 2, 3)
# Feature weights by kind: n-gram size, "w" word, "t" whole text (when nothing else is left).
# Longer n-grams are rarer and say more; single characters are noisy.
_FEATURE_WEIGHTS = {"1": 0.4, "2": 1.0, "3": 0.8, "w": 1.0, "t": 1.0}


async def _embed_offline(texts: list[str], on_progress: ProgressCallback | None) -> list[list[float]]:
    dimensions = settings.EMBEDDING_DIMENSIONS
    step = settings.EMBEDDING_BATCH_SIZE
    vectors: list[list[float]] = []
    for start in range(0, len(texts), step):
        batch = texts[start : start + step]
        vectors += await asyncio.to_thread(lambda batch=batch: [offline_embedding(text, dimensions) for text in batch])
        await _report(on_progress, len(vectors), len(texts))
    return vectors


def offline_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic, L2-normalised vector of hashed features (no network, no model).

    Features are character 1-, 2- and 3-grams of CJK runs and lower-cased words elsewhere, each
    added with a stable signed hash (blake2b) and a sublinear weight (1 + log tf).
    """
    counts = Counter(_offline_features(text)) or Counter({("t", text.strip()): 1})
    vector = [0.0] * dimensions
    for (kind, feature), count in counts.items():
        slot, sign = _feature_slot(f"{kind}:{feature}", dimensions)
        vector[slot] += sign * _FEATURE_WEIGHTS[kind] * (1.0 + math.log(count))
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm else vector


def _offline_features(text: str) -> Iterator[tuple[str, str]]:
    for run, is_cjk in text_runs(text):
        if not is_cjk:
            yield "w", run
            continue
        for size in NGRAM_SIZES:
            for start in range(len(run) - size + 1):
                gram = run[start : start + size]
                if not set(gram) <= OFFLINE_STOP_CHARS:
                    yield str(size), gram


@lru_cache(maxsize=131072)
def _feature_slot(feature: str, dimensions: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    return digest % dimensions, 1.0 if digest >> 63 else -1.0
