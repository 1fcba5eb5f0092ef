"""Cosine search on Chunk: right neighbours, the HNSW index in the plan, one model at a time."""

from __future__ import annotations

import math
import random

import pytest
from django.db import connection, transaction
from pgvector.django import CosineDistance

from videos.models import EMBEDDING_COLUMN_DIMENSIONS, Chunk, Video, VideoPart

pytestmark = pytest.mark.django_db

MODEL = "test-model@8"


def padded(vector: list[float]) -> list[float]:
    return vector + [0.0] * (EMBEDDING_COLUMN_DIMENSIONS - len(vector))


def cosine_distance(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return 1 - dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture
def part() -> VideoPart:
    video = Video.objects.create(bvid="BV1xx411c7mD", aid=2, title="测试视频")
    return VideoPart.objects.create(video=video, page=1, cid=1001, title="P1")


def make_chunks(part: VideoPart, vectors: list[list[float]], model: str = MODEL, first: int = 0) -> list[Chunk]:
    return Chunk.objects.bulk_create(
        Chunk(
            part=part,
            ordinal=first + index,
            start_ms=index * 1000,
            end_ms=index * 1000 + 900,
            text=f"第{index}段",
            token_count=3,
            embedding=padded(vector),
            embedding_model=model,
        )
        for index, vector in enumerate(vectors)
    )


def test_cosine_ordering_returns_the_nearest_chunks(part: VideoPart) -> None:
    rng = random.Random(7)
    vectors = [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(200)]
    chunks = make_chunks(part, vectors)
    query = [rng.uniform(-1, 1) for _ in range(8)]
    expected = sorted(range(len(vectors)), key=lambda i: cosine_distance(vectors[i], query))[:5]

    nearest = list(
        Chunk.objects.filter(part=part, embedding_model=MODEL)
        .annotate(distance=CosineDistance("embedding", padded(query)))
        .order_by("distance")[:5]
    )

    assert [chunk.pk for chunk in nearest] == [chunks[i].pk for i in expected]
    assert nearest[0].distance == pytest.approx(cosine_distance(vectors[expected[0]], query), abs=1e-5)


def test_zero_padding_keeps_cosine_distance(part: VideoPart) -> None:
    (chunk,) = make_chunks(part, [[1.0, 2.0, 3.0]])
    annotated = Chunk.objects.annotate(distance=CosineDistance("embedding", padded([3.0, 2.0, 1.0]))).get(pk=chunk.pk)
    assert annotated.distance == pytest.approx(cosine_distance([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]), abs=1e-6)


def test_vectors_of_another_model_are_never_returned(part: VideoPart) -> None:
    make_chunks(part, [[1.0, 0.0], [0.9, 0.1]], model=MODEL)
    make_chunks(part, [[1.0, 0.0]], model="other-model@2", first=2)
    found = (
        Chunk.objects.filter(part=part, embedding_model=MODEL)
        .order_by(CosineDistance("embedding", padded([1.0, 0.0])))
        .values_list("embedding_model", flat=True)
    )
    assert set(found) == {MODEL}
    assert len(found) == 2


def test_query_plan_uses_the_hnsw_index(part: VideoPart) -> None:
    rng = random.Random(11)
    make_chunks(part, [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(300)])
    queryset = Chunk.objects.order_by(CosineDistance("embedding", padded([0.5] * 8)))[:10]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()
        nearest = list(queryset)
    assert "chunk_embedding_hnsw_cosine" in plan
    assert len(nearest) == 10
