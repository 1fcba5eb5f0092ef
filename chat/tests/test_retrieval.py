"""Hybrid retrieval: one part only, one vector space only, keyword hits, RRF order, context, recall."""

from __future__ import annotations

import json
import math
import random
from array import array
from collections.abc import Sequence

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from chat.retrieval import (
    _CONTEXT_SQL,
    RRF_K,
    FusedHit,
    RetrievedChunk,
    _rows,
    cues_in_span,
    fuse_rankings,
    hits_with_neighbours,
    keyword_ranking,
    retrieve_chunks,
    retrieve_chunks_by_vector,
    tune_vector_search,
    vector_literal,
    vector_ranking,
    vector_ranking_sql,
)
from chat.selectors import stored_cues
from chat.tests.fixtures_recall import QUESTIONS, TRANSCRIPT, recall_transcript
from core.tokens import count_tokens
from tests.factories import ready_part
from videos.embeddings import embed_texts, embedding_space, pad_vector
from videos.models import Chunk, Video, VideoPart
from videos.services import part_chunks_replace, part_embeddings_replace
from videos.types import ChunkDraft, Cue, Transcript

OTHER_SPACE = "other-model@1024"
DIMENSIONS = 16  # of the hand-made vectors below (zero-padded to the column)

# --- Helpers: everything is stored through services.part_chunks_replace ----------------------


def make_part(bvid: str = "BV1xx411c7mD", page: int = 1) -> VideoPart:
    video, _ = Video.objects.get_or_create(bvid=bvid, defaults={"aid": 2, "title": "测试视频"})
    return VideoPart.objects.create(video=video, page=page, cid=1000 + page, title=f"P{page}")


def store_chunks(
    part: VideoPart, texts: Sequence[str], vectors: Sequence[Sequence[float]] | None = None
) -> list[Chunk]:
    """Store one chunk per text (5 s each) in the current space; offline embeddings by default."""
    cues = [Cue(index * 5000, index * 5000 + 4900, text) for index, text in enumerate(texts)]
    drafts = [ChunkDraft(cue.start_ms, cue.end_ms, cue.text, count_tokens(cue.text)) for cue in cues]
    if vectors is None:
        vectors = async_to_sync(embed_texts)(list(texts))
    store_drafts(part, Transcript(cues=cues, source="subtitle"), drafts, vectors)
    return list(Chunk.objects.filter(part=part).order_by("ordinal"))


def store_drafts(
    part: VideoPart, transcript: Transcript, drafts: list[ChunkDraft], vectors: Sequence[Sequence[float]]
) -> None:
    part_chunks_replace(
        part_id=part.pk,
        worker=None,
        transcript=transcript,
        drafts=drafts,
        vectors=[pad_vector(vector) for vector in vectors],
        space=embedding_space(),
    )


def axis(index: int, weight: float = 1.0) -> list[float]:
    vector = [0.0] * DIMENSIONS
    vector[index] = weight
    return vector


def blend(*vectors: list[float]) -> list[float]:
    return [sum(values) for values in zip(*vectors, strict=True)]


def ordinals(found: Sequence[RetrievedChunk]) -> list[int]:
    return [chunk.ordinal for chunk in found]


def hit_ordinals(found: Sequence[RetrievedChunk]) -> set[int]:
    return {chunk.ordinal for chunk in found if not chunk.is_context}


# --- Fusion -----------------------------------------------------------------------------------


def test_fuse_rankings_adds_reciprocal_ranks() -> None:
    fused = fuse_rankings([11, 12, 13], [13, 14])

    assert [hit.chunk_id for hit in fused] == [13, 11, 12, 14]
    by_id = {hit.chunk_id: hit for hit in fused}
    assert by_id[13].score == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert by_id[11].score == pytest.approx(1 / (RRF_K + 1))
    assert (by_id[13].vector_rank, by_id[13].keyword_rank) == (3, 1)
    assert (by_id[14].vector_rank, by_id[14].keyword_rank) == (None, 2)


def test_fuse_rankings_of_nothing_is_empty() -> None:
    assert fuse_rankings([], []) == []


@pytest.mark.django_db
def test_fusion_lifts_a_chunk_both_rankings_agree_on() -> None:
    part = make_part()
    texts = ["今天天气不错出去走走", "红烧肉要炖一个小时", "红烧肉的肉要选五花", "最后把锅洗干净"]
    vectors = [axis(0), blend(axis(0, 0.9), axis(1, 0.3)), axis(1), axis(0, -1.0)]
    chunks = store_chunks(part, texts, vectors)

    found = retrieve_chunks_by_vector(
        part_id=part.pk, question="红烧肉要炖多久", vector=pad_vector(axis(0)), k=2, neighbours=0
    )

    # Vector search alone would pick chunks 0 and 1; both rankings agree on 1 and 2.
    assert ordinals(found) == [1, 2]
    first, second = found
    assert (first.vector_rank, first.keyword_rank) == (2, 1)
    assert (second.vector_rank, second.keyword_rank) == (3, 2)
    assert first.score == pytest.approx(1 / (RRF_K + 2) + 1 / (RRF_K + 1))
    assert first.score > second.score > 1 / (RRF_K + 1)
    assert [chunk.chunk_id for chunk in found] == [chunks[1].pk, chunks[2].pk]
    assert not any(chunk.is_context for chunk in found)


# --- Scope: one part, one vector space -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_results_come_from_the_asked_part_only() -> None:
    texts = ["红烧肉要先焯水", "然后炒糖色", "加生抽老抽和冰糖", "小火炖一个小时", "最后大火收汁"]
    part = await sync_to_async(make_part)(page=1)
    other = await sync_to_async(make_part)(page=2)
    mine = await sync_to_async(store_chunks)(part, texts)
    await sync_to_async(store_chunks)(other, texts)

    mine_ids = {chunk.pk for chunk in mine}
    question = "红烧肉要炖多久？"

    found = await retrieve_chunks(part.pk, question, k=3, neighbours=1)

    assert {chunk.chunk_id for chunk in found} <= mine_ids
    assert len(hit_ordinals(found)) == 3 and 3 in hit_ordinals(found)
    (vector,) = await embed_texts([question])
    by_vector = await sync_to_async(vector_ranking)(part_id=part.pk, vector=vector, limit=10)
    by_keyword = await sync_to_async(keyword_ranking)(part_id=part.pk, question=question, limit=10)
    assert set(by_vector) == mine_ids
    assert by_keyword and set(by_keyword) <= mine_ids


@pytest.mark.django_db
def test_vectors_of_another_space_are_never_compared() -> None:
    part = make_part()
    chunks = store_chunks(
        part, ["雷电四接口可以接显示器", "续航十一个小时", "屏幕是OLED的"], [axis(1), axis(2), axis(3)]
    )
    query = pad_vector(axis(0))
    # Re-embedded by another model with exactly the question's vector: the nearest, but not comparable.
    part_embeddings_replace(part_id=part.pk, vectors_by_chunk={chunks[0].pk: query}, space=OTHER_SPACE)

    assert chunks[0].pk not in vector_ranking(part_id=part.pk, vector=query, limit=10)
    assert len(vector_ranking(part_id=part.pk, vector=query, limit=10)) == 2
    found = retrieve_chunks_by_vector(part_id=part.pk, question="有雷电四吗", vector=query, k=3, neighbours=0)
    ranks = {chunk.ordinal: (chunk.vector_rank, chunk.keyword_rank) for chunk in found}
    assert ranks == {0: (None, 1), 1: (1, None), 2: (2, None)}


@pytest.mark.django_db
def test_a_part_embedded_by_another_model_is_found_by_keywords_only() -> None:
    part = make_part()
    chunks = store_chunks(part, ["雷电四接口可以接显示器", "续航十一个小时"], [axis(0), axis(1)])
    part_embeddings_replace(
        part_id=part.pk, vectors_by_chunk={chunk.pk: pad_vector(axis(0)) for chunk in chunks}, space=OTHER_SPACE
    )

    assert vector_ranking(part_id=part.pk, vector=pad_vector(axis(0)), limit=10) == []
    found = retrieve_chunks_by_vector(part_id=part.pk, question="续航多久", vector=pad_vector(axis(0)), neighbours=0)
    assert [(chunk.ordinal, chunk.vector_rank, chunk.keyword_rank) for chunk in found] == [(1, None, 1)]


# --- Keyword search ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_exact_chinese_term_is_found_when_vectors_miss_it() -> None:
    part = make_part()
    query = axis(0)
    rng = random.Random(5)
    fillers = 50  # more than either ranking's candidates
    texts = [f"第{index}段闲聊内容" for index in range(fillers)] + ["这台机器支持雷电四接口"]
    # Every filler is nearer to the question than the chunk that answers it.
    vectors = [blend(query, axis(rng.randrange(1, DIMENSIONS), 0.3)) for _ in range(fillers)] + [axis(0, -1.0)]
    store_chunks(part, texts, vectors)

    found = retrieve_chunks_by_vector(
        part_id=part.pk, question="它支持雷电四吗？", vector=pad_vector(query), k=3, neighbours=0
    )

    answer = [chunk for chunk in found if chunk.ordinal == fillers]
    assert len(answer) == 1
    assert answer[0].keyword_rank == 1
    assert answer[0].vector_rank is None


@pytest.mark.django_db
def test_keyword_ranking_prefers_the_chunk_with_more_of_the_terms() -> None:
    part = make_part()
    chunks = store_chunks(part, ["充电器是六十五瓦的", "六十五瓦氮化镓充电器充满要一个小时", "屏幕很亮"])

    ranking = keyword_ranking(part_id=part.pk, question="充电器多少瓦，充满要多久", limit=10)

    assert ranking == [chunks[1].pk, chunks[0].pk]


# --- Neighbours -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_neighbours_are_added_as_context_in_time_order() -> None:
    part = make_part()
    texts = [f"片段{'一二三四五六七八九十'[index]}" for index in range(10)]
    store_chunks(part, texts, [axis(index) for index in range(10)])

    def retrieve(vector: list[float], k: int, neighbours: int) -> list[RetrievedChunk]:
        return retrieve_chunks_by_vector(
            part_id=part.pk, question="无关", vector=pad_vector(vector), k=k, neighbours=neighbours
        )

    found = retrieve(axis(5), k=1, neighbours=1)
    assert ordinals(found) == [4, 5, 6]
    assert [chunk.is_context for chunk in found] == [True, False, True]
    assert [chunk.start_ms for chunk in found] == sorted(chunk.start_ms for chunk in found)
    assert (found[0].score, found[0].vector_rank, found[0].keyword_rank) == (0.0, None, None)
    assert found[1].score > 0 and found[1].vector_rank == 1

    # Two adjacent hits share their context; each chunk comes once.
    found = retrieve(blend(axis(5), axis(6, 0.5)), k=2, neighbours=1)
    assert ordinals(found) == [4, 5, 6, 7]
    assert [chunk.is_context for chunk in found] == [True, False, False, True]

    assert ordinals(retrieve(axis(0), k=1, neighbours=2)) == [0, 1, 2]
    assert ordinals(retrieve(axis(9), k=1, neighbours=0)) == [9]


# --- Empty cases ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_nothing_to_retrieve() -> None:
    empty = await sync_to_async(make_part)(page=1)
    part = await sync_to_async(make_part)(page=2)
    await sync_to_async(store_chunks)(part, ["红烧肉要先焯水", "然后炒糖色"])

    assert await retrieve_chunks(empty.pk, "红烧肉要炖多久？") == []
    assert await retrieve_chunks(part.pk, "  ") == []
    assert await retrieve_chunks(part.pk, "红烧肉", k=0) == []
    assert await retrieve_chunks(part.pk + 1000, "红烧肉") == []


@pytest.mark.django_db(transaction=True)
async def test_a_question_without_keyword_terms_uses_vectors_only() -> None:
    part = await sync_to_async(make_part)()
    await sync_to_async(store_chunks)(part, ["红烧肉要先焯水", "然后炒糖色", "这是什么菜"])

    found = await retrieve_chunks(part.pk, "是什么？", k=2, neighbours=0)

    assert len(found) == 2
    assert all(chunk.keyword_rank is None and chunk.vector_rank is not None for chunk in found)


# --- The query plan and the filtered HNSW scan ------------------------------------------------


def random_vectors(rng: random.Random, count: int) -> list[list[float]]:
    return [[rng.uniform(-1, 1) for _ in range(DIMENSIONS)] for _ in range(count)]


def explain(sql: str, params: Sequence[object]) -> str:
    """The plan PostgreSQL picks for the statement under this transaction's settings."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def force_index_order(cursor: CursorWrapper) -> None:
    """Make the planner order by an index: on small tables it prefers the part's btree index
    plus a sort (exact and cheaper), so sorting is switched off too, leaving the HNSW index."""
    cursor.execute(f"ANALYZE {Chunk._meta.db_table}")
    cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute("SET LOCAL enable_sort = off")


@pytest.mark.django_db
def test_the_vector_query_can_use_the_hnsw_index() -> None:
    part = make_part()
    store_chunks(part, [f"第{index}段" for index in range(300)], random_vectors(random.Random(11), 300))
    query = pad_vector([0.5] * DIMENSIONS)

    with transaction.atomic(), connection.cursor() as cursor:
        force_index_order(cursor)
        tune_vector_search(part.pk)
        plan = explain(*vector_ranking_sql(part_id=part.pk, vector=query, limit=10))
        nearest = vector_ranking(part_id=part.pk, vector=query, limit=10)

    assert "Index Scan using chunk_embedding_hnsw_cosine" in plan, plan
    assert "Sort" not in plan, plan
    assert len(nearest) == 10


@pytest.mark.django_db
def test_a_small_part_among_many_chunks_still_gets_all_its_candidates() -> None:
    rng = random.Random(3)
    part = make_part(page=1)
    store_chunks(part, [f"第{index}段" for index in range(60)], random_vectors(rng, 60))
    store_chunks(make_part(page=2), [f"第{index}段" for index in range(600)], random_vectors(rng, 600))
    query = pad_vector(random_vectors(rng, 1)[0])

    with transaction.atomic(), connection.cursor() as cursor:
        force_index_order(cursor)
        tune_vector_search(part.pk)
        assert "chunk_embedding_hnsw_cosine" in explain(*vector_ranking_sql(part_id=part.pk, vector=query, limit=30))
        found = vector_ranking(part_id=part.pk, vector=query, limit=30)
        cursor.execute("SET LOCAL enable_indexscan = off")  # no HNSW: the exact ranking
        exact = set(vector_ranking(part_id=part.pk, vector=query, limit=30))

    # One HNSW pass sees about ef_search chunks, a tenth of them this part's; the iterative
    # scan keeps going until it has 30.
    assert len(found) == 30
    assert len(exact & set(found)) >= 27


# --- Recall on a realistic transcript ---------------------------------------------------------


def recall_at(found: Sequence[int], relevant: frozenset[int], n: int) -> float:
    return len(relevant & set(found[:n])) / len(relevant)


# Floors just below the figures measured when this was written (see the printed line); they
# catch regressions, they are not targets.
RECALL_FLOORS = {"hybrid": 0.85, "vector": 0.73, "keyword": 0.75}


@pytest.mark.django_db(transaction=True)
async def test_recall_at_5_on_a_chinese_review() -> None:
    part = await sync_to_async(make_part)()
    transcript, drafts = recall_transcript()
    vectors = await embed_texts([draft.text for draft in drafts])
    await sync_to_async(store_drafts)(part, transcript, drafts, vectors)
    ordinal_of = {pk: ordinal async for pk, ordinal in Chunk.objects.filter(part=part).values_list("pk", "ordinal")}
    assert len(ordinal_of) == len(TRANSCRIPT)
    question_vectors = await embed_texts([item.question for item in QUESTIONS])

    recalls: dict[str, list[float]] = {"hybrid": [], "vector": [], "keyword": []}
    for item, vector in zip(QUESTIONS, question_vectors, strict=True):
        hybrid = hit_ordinals(await retrieve_chunks(part.pk, item.question, k=5, neighbours=0))
        by_vector = await sync_to_async(vector_ranking)(part_id=part.pk, vector=vector, limit=5)
        by_keyword = await sync_to_async(keyword_ranking)(part_id=part.pk, question=item.question, limit=5)
        recalls["hybrid"].append(len(item.ordinals & hybrid) / len(item.ordinals))
        recalls["vector"].append(recall_at([ordinal_of[pk] for pk in by_vector], item.ordinals, 5))
        recalls["keyword"].append(recall_at([ordinal_of[pk] for pk in by_keyword], item.ordinals, 5))

    figures = {name: math.fsum(values) / len(values) for name, values in recalls.items()}
    print(f"recall@5 over {len(QUESTIONS)} questions: " + ", ".join(f"{n} {v:.3f}" for n, v in figures.items()))
    for name, floor in RECALL_FLOORS.items():
        assert figures[name] >= floor, f"{name} recall@5 fell to {figures[name]:.3f} (floor {floor})"


def test_the_vector_literal_gives_back_the_same_float32_numbers() -> None:
    vector = [1.5, -0.25, 0.1, 1 / 3, -0.006929283495992422, 1e-12]

    literal = vector_literal(vector)

    assert literal == "[1.5,-0.25,0.1,0.333333333,-0.0069292835,1e-12]"
    assert array("f", json.loads(literal)) == array("f", vector)


@pytest.mark.django_db
def test_the_cues_read_for_the_retrieved_chunks_are_those_the_whole_transcript_gives() -> None:
    part = async_to_sync(ready_part)(target_tokens=20)
    chunk_ids = list(Chunk.objects.filter(part=part).order_by("ordinal").values_list("pk", flat=True))
    hits = [FusedHit(chunk_id, 1.0, 1, None) for chunk_id in chunk_ids[1::3]]
    whole = stored_cues(part.transcript_cues)

    found = hits_with_neighbours(part_id=part.pk, hits=hits, neighbours=0)

    ids = [hit.chunk_id for hit in hits]
    cue_rows = [row for row in _rows(_CONTEXT_SQL, [part.pk, ids, part.pk, 0, 0, part.pk]) if row[0] == 1]
    assert len(found) >= 2 and 0 < len(cue_rows) < len(whole)  # only the lines the chunks overlap are read
    assert [chunk.cues for chunk in found] == [cues_in_span(whole, chunk.start_ms, chunk.end_ms) for chunk in found]
