"""The HNSW settings come with every database connection, not with every question (issue 12)."""

from __future__ import annotations

import random

import pytest
from django.db import connection, transaction

from chat.retrieval import rankings_sql, retrieve_chunks_by_vector, vector_ranking
from chat.tests.test_retrieval import force_index_order, make_part, random_vectors, store_chunks
from chat.vector_session import HNSW_EF_SEARCH, with_vector_search_settings
from videos.embeddings import pad_vector
from videos.models import VideoPart


@pytest.fixture
def crowded_part(db: None) -> tuple[VideoPart, list[float]]:
    """A part of 60 chunks among 660, and a question vector (random vectors, fixed seed)."""
    rng = random.Random(3)
    part = make_part(page=1)
    store_chunks(part, [f"第{index}段" for index in range(60)], random_vectors(rng, 60))
    store_chunks(make_part(page=2), [f"第{index}段" for index in range(600)], random_vectors(rng, 600))
    return part, pad_vector(random_vectors(rng, 1)[0])


@pytest.mark.django_db
def test_a_connection_starts_with_the_hnsw_settings() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan')")
        settings = cursor.fetchone()

    assert settings == (str(HNSW_EF_SEARCH), "relaxed_order")


def test_a_site_s_own_connection_options_come_after_the_hnsw_settings() -> None:
    options = with_vector_search_settings({"sslmode": "require", "options": "-c statement_timeout=5s"})

    assert options == {
        "sslmode": "require",
        "options": f"-c hnsw.ef_search={HNSW_EF_SEARCH} -c hnsw.iterative_scan=relaxed_order -c statement_timeout=5s",
    }


@pytest.mark.django_db
def test_a_part_among_many_chunks_gets_its_hits_through_the_hnsw_index_without_setting_anything(
    crowded_part: tuple[VideoPart, list[float]],
) -> None:
    part, query = crowded_part

    with transaction.atomic(), connection.cursor() as cursor:
        force_index_order(cursor)  # the HNSW index is the only plan left
        found = retrieve_chunks_by_vector(part_id=part.pk, question="无关", vector=query, k=30, neighbours=0)
        ranking = vector_ranking(part_id=part.pk, vector=query, limit=120)  # the same scan, sorted in Python

    # One HNSW pass at the default ef_search (40) sees about 4 of this part's chunks; the connection's
    # iterative scan keeps going until the ranking has them all, and they are ranked by distance.
    assert len(ranking) == 60
    assert {chunk.chunk_id: chunk.vector_rank for chunk in found} == {
        chunk_id: rank for rank, chunk_id in enumerate(ranking[:30], start=1)
    }


@pytest.mark.django_db
def test_the_rankings_sort_the_hnsw_scan_s_rows_again(crowded_part: tuple[VideoPart, list[float]]) -> None:
    """A relaxed-order iterative scan returns rows slightly out of order; a plan that takes them as sorted
    by distance (an incremental sort over its "presorted" output) would leave some so (issue 12)."""
    part, query = crowded_part

    with transaction.atomic(), connection.cursor() as cursor:
        force_index_order(cursor)  # the HNSW index is the only plan left
        sql, params = rankings_sql(part_id=part.pk, question="无关", vector=query, limit=32)
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Scan using chunk_embedding_hnsw_cosine" in plan, plan
    assert "Sort Key: ((vector.distance + '0'::double precision)), vector.id" in plan, plan
    assert "Presorted Key: vector.distance" not in plan, plan
