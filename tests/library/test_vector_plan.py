"""The library's vector search plan: exact over a small scope, the HNSW index over a big one."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

import chat.retrieval as retrieval
from chat.retrieval import tune_vector_search, vector_ranking, vector_ranking_sql
from chat.tests.test_retrieval import explain, make_part, store_chunks
from videos.embeddings import pad_vector

HNSW_SCAN = "Index Scan using chunk_embedding_hnsw_cosine"


def unit(axis: int) -> list[float]:
    return pad_vector([1.0 if index == axis else 0.0 for index in range(16)])


def library_plan(part_ids: list[int], *, sort_off_before: bool = False) -> str:
    """The plan of the site's vector ranking over the parts; `sort_off_before`: the transaction starts
    with sorting off, where the planner would take the HNSW index whatever the scope's size."""
    with transaction.atomic():
        if sort_off_before:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_sort = off")
        tune_vector_search(part_ids)
        return explain(*vector_ranking_sql(part_id=part_ids, vector=unit(0), limit=8))


def three_parts() -> list[int]:
    """Three parts of three chunks each, chunk vectors on axes 0–8 (part n holds axes 3n..3n+2)."""
    ids = []
    for number in range(3):
        part = make_part(page=number + 1)
        store_chunks(part, [f"第{3 * number + axis}段" for axis in range(3)], [unit(3 * number + a) for a in range(3)])
        ids.append(part.pk)
    return ids


@pytest.mark.django_db
def test_a_scope_over_the_exact_limit_is_searched_through_the_hnsw_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieval, "LIBRARY_EXACT_MAX_CHUNKS", 5)
    part_ids = three_parts()

    assert HNSW_SCAN in library_plan(part_ids[:2])


@pytest.mark.django_db
def test_a_scope_within_the_exact_limit_is_searched_exactly() -> None:
    part_ids = three_parts()

    plan = library_plan(part_ids[:2], sort_off_before=True)

    assert HNSW_SCAN not in plan
    assert "Sort" in plan


@pytest.mark.django_db
def test_the_hnsw_search_of_a_big_scope_ranks_only_the_scopes_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retrieval, "LIBRARY_EXACT_MAX_CHUNKS", 5)
    first, _, third = three_parts()
    query = pad_vector([1.0, 0.5, 0.25, 0.0, 0.0, 0.0, 0.2, 0.1, 0.05] + [0.0] * 7)

    found = vector_ranking(part_id=[first, third], vector=query, limit=4)

    stored = {chunk.text: chunk.pk for chunk in retrieval.Chunk.objects.all()}
    assert found == [stored["第0段"], stored["第1段"], stored["第2段"], stored["第6段"]]
