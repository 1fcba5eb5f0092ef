"""Hybrid retrieval of one part's chunks for a chat question.

Two rankings of the part's chunks are fused with reciprocal rank fusion (RRF, k=60):

- vector: cosine distance to the question's embedding over the HNSW index, only among chunks
  whose vectors are in the current `embedding_space()` (vectors of different models are never
  compared);
- keyword: `ts_rank_cd` of the chunk's `search_vector` against an OR tsquery of the question's
  Chinese bigrams and words (`search_query_terms`), whatever model embedded the chunk.

The best `k` fused chunks (hits) are returned with their neighbours (ordinal ± `neighbours`,
marked `is_context`), ordered by time, each chunk once, each with the part's transcript lines
(cues) that fall in its span, so answers can cite the line, not the chunk.

Where the part is a small share of the table (a few hundred chunks among thousands), the
planner reads the part through its btree index and sorts exactly, which is faster than HNSW
and exact; the HNSW settings below matter when it picks the HNSW index (large parts).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from pgvector.django import CosineDistance

from chat.selectors import stored_cues
from videos.embeddings import embed_texts, embedding_space
from videos.models import Chunk, VideoPart
from videos.search_text import search_query_terms
from videos.types import Cue

RRF_K = 60
# Each ranking contributes this many candidates (at least) to the fusion.
MIN_CANDIDATES = 30
# HNSW candidate list size: above the default 40 for better recall at a small cost in latency.
HNSW_EF_SEARCH = 100


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: int
    ordinal: int
    start_ms: int
    end_ms: int
    text: str
    token_count: int
    score: float  # fused RRF score; 0.0 for context chunks
    vector_rank: int | None  # 1-based rank in the vector ranking, None when not in it
    keyword_rank: int | None  # 1-based rank in the keyword ranking, None when not in it
    is_context: bool  # a neighbour of a hit, not a hit itself
    cues: tuple[Cue, ...] = ()  # the transcript lines in its span (empty: the part has no stored cues)


@dataclass(frozen=True)
class FusedHit:
    chunk_id: int
    score: float
    vector_rank: int | None
    keyword_rank: int | None


async def retrieve_chunks(part_id: int, question: str, *, k: int = 8, neighbours: int = 1) -> list[RetrievedChunk]:
    """The part's `k` best chunks for `question` with their neighbours, ordered by time.

    Embedding the question may raise AppError (embedding_failed, ...); the caller decides.
    """
    if not question.strip() or k < 1:
        return []
    (vector,) = await embed_texts([question])
    return await sync_to_async(retrieve_chunks_by_vector)(
        part_id=part_id, question=question, vector=vector, k=k, neighbours=neighbours
    )


def retrieve_chunks_by_vector(
    *, part_id: int, question: str, vector: Sequence[float], k: int = 8, neighbours: int = 1
) -> list[RetrievedChunk]:
    """The sync core of `retrieve_chunks`, for a question already embedded as `vector`."""
    candidates = max(k * 4, MIN_CANDIDATES)
    vector_ids = vector_ranking(part_id=part_id, vector=vector, limit=candidates)
    keyword_ids = keyword_ranking(part_id=part_id, question=question, limit=candidates)
    hits = fuse_rankings(vector_ids, keyword_ids)[:k]
    return hits_with_neighbours(part_id=part_id, hits=hits, neighbours=neighbours)


# --- The two rankings ---------------------------------------------------------------------------


def vector_queryset(part_id: int, vector: Sequence[float]) -> QuerySet[Chunk]:
    """The part's chunks in the current vector space, nearest first (annotated `distance`)."""
    return (
        Chunk.objects.filter(part_id=part_id, embedding_model=embedding_space(), embedding__isnull=False)
        .annotate(distance=CosineDistance("embedding", list(vector)))
        .order_by("distance")
    )


def vector_ranking(*, part_id: int, vector: Sequence[float], limit: int) -> list[int]:
    """Ids of the part's `limit` chunks nearest to `vector` (cosine), nearest first."""
    with transaction.atomic(savepoint=False):  # SET LOCAL needs a transaction; no savepoint needed
        _tune_hnsw_for_this_transaction()
        rows = list(vector_queryset(part_id, vector).values_list("pk", "distance")[:limit])
    # A relaxed-order iterative scan may return near-ties slightly out of order.
    rows.sort(key=lambda row: (row[1], row[0]))
    return [pk for pk, _ in rows]


def _tune_hnsw_for_this_transaction() -> None:
    """More HNSW candidates, and keep scanning when the part filter drops most of them."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(HNSW_EF_SEARCH)}")
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")


def keyword_ranking(*, part_id: int, question: str, limit: int) -> list[int]:
    """Ids of the part's chunks sharing terms with `question`, best `ts_rank_cd` first."""
    terms = search_query_terms(question)
    if not terms:
        return []
    query = SearchQuery(terms, config="simple", search_type="raw")
    return list(
        Chunk.objects.filter(part_id=part_id, search_vector=query)
        .annotate(rank=SearchRank(F("search_vector"), query, cover_density=True))
        .order_by("-rank", "ordinal")
        .values_list("pk", flat=True)[:limit]
    )


# --- Fusion and context -------------------------------------------------------------------------


def fuse_rankings(vector_ids: Sequence[int], keyword_ids: Sequence[int], *, rrf_k: int = RRF_K) -> list[FusedHit]:
    """Reciprocal rank fusion: score = Σ 1 / (rrf_k + rank), best first (ties: better best rank)."""
    vector_ranks = {chunk_id: rank for rank, chunk_id in enumerate(vector_ids, start=1)}
    keyword_ranks = {chunk_id: rank for rank, chunk_id in enumerate(keyword_ids, start=1)}
    hits: list[FusedHit] = []
    for chunk_id in dict.fromkeys([*vector_ids, *keyword_ids]):
        ranks = [rank for rank in (vector_ranks.get(chunk_id), keyword_ranks.get(chunk_id)) if rank is not None]
        score = sum(1.0 / (rrf_k + rank) for rank in ranks)
        hits.append(FusedHit(chunk_id, score, vector_ranks.get(chunk_id), keyword_ranks.get(chunk_id)))
    hits.sort(key=lambda hit: (-hit.score, min(rank for rank in (hit.vector_rank, hit.keyword_rank) if rank)))
    return hits


def hits_with_neighbours(*, part_id: int, hits: Sequence[FusedHit], neighbours: int) -> list[RetrievedChunk]:
    """The hits and the chunks within `neighbours` ordinals of one, ordered by time, once each."""
    if not hits:
        return []
    by_id = {hit.chunk_id: hit for hit in hits}
    near_a_hit = Chunk.objects.filter(
        pk__in=list(by_id),
        ordinal__gte=OuterRef("ordinal") - max(neighbours, 0),
        ordinal__lte=OuterRef("ordinal") + max(neighbours, 0),
    )
    rows = (
        Chunk.objects.filter(part_id=part_id)
        .filter(Exists(near_a_hit.filter(part_id=part_id)))
        .order_by("ordinal")
        .values_list("pk", "ordinal", "start_ms", "end_ms", "text", "token_count")
    )
    cues = stored_cues(VideoPart.objects.filter(pk=part_id).values_list("transcript_cues", flat=True).first())
    return [_retrieved(row, by_id.get(row[0]), cues) for row in rows]


def cues_in_span(cues: Sequence[Cue], start_ms: int, end_ms: int) -> tuple[Cue, ...]:
    """The cues (sorted by start) a chunk spanning [start_ms, end_ms] is made of: those starting
    inside it, and the one it starts in when it begins inside a long line."""
    starts = [cue.start_ms for cue in cues]
    first = max(0, bisect.bisect_right(starts, start_ms) - 1)
    if first < len(cues) and cues[first].start_ms < start_ms and cues[first].end_ms <= start_ms:
        first += 1
    return tuple(cues[first : bisect.bisect_left(starts, end_ms)])


def _retrieved(row: tuple, hit: FusedHit | None, cues: Sequence[Cue]) -> RetrievedChunk:
    chunk_id, ordinal, start_ms, end_ms, text, token_count = row
    return RetrievedChunk(
        chunk_id=chunk_id,
        ordinal=ordinal,
        start_ms=start_ms,
        end_ms=end_ms,
        text=text,
        token_count=token_count,
        score=hit.score if hit else 0.0,
        vector_rank=hit.vector_rank if hit else None,
        keyword_rank=hit.keyword_rank if hit else None,
        is_context=hit is None,
        cues=cues_in_span(cues, start_ms, end_ms),
    )
