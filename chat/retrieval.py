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
and exact; the HNSW settings matter when it picks the HNSW index (large parts). Every database
connection starts with them (chat/vector_session.py), so a question costs two statements: both
rankings, then the hits with their neighbours and cues (issue 12).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

from asgiref.sync import sync_to_async
from django.db import connection, transaction

from chat.selectors import stored_cues
from chat.vector_session import HNSW_EF_SEARCH, HNSW_ITERATIVE_SCAN
from videos.embeddings import embed_question, embedding_space
from videos.models import Chunk, VideoPart
from videos.search_text import search_query_terms
from videos.types import Cue

RRF_K = 60
FLOAT32_DIGITS = "%.9g"  # enough to give back the same float32
# Each ranking contributes this many candidates (at least) to the fusion.
MIN_CANDIDATES = 30
# Over many parts (a library, a collection) a scope of at most this many chunks is searched exactly
# (its parts through the part index, then a sort: about 6 µs a chunk); a bigger one through the
# HNSW index, kept on it (see `plan_library_search`) with an iterative scan
# at LIBRARY_EF_SEARCH candidates (bench/library_retrieval.py).
LIBRARY_EXACT_MAX_CHUNKS = 4000
LIBRARY_EF_SEARCH = 100
# Over many parts, the keyword ranking scores at most this many matching chunks: a common word in
# a big library matches thousands, and scoring them all costs more than the rest of retrieval.
LIBRARY_KEYWORD_SCAN = 2000
# ... first by `ts_rank`, and this many times the ranking's length of the best again by `ts_rank_cd`.
LIBRARY_KEYWORD_SHORTLIST = 8


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
    part_id: int = 0  # the part it belongs to (filled by the retrieval over many parts)


@dataclass(frozen=True)
class FusedHit:
    chunk_id: int
    score: float
    vector_rank: int | None
    keyword_rank: int | None


async def retrieve_chunks(
    part_id: int, question: str, *, k: int = 8, neighbours: int = 1, vector: Sequence[float] | None = None
) -> list[RetrievedChunk]:
    """The part's `k` best chunks for `question` with their neighbours, ordered by time.

    Embedding the question may raise AppError (embedding_failed, ...); the caller decides. A caller
    that embedded it already (`question_vector`, started early) passes the `vector`.
    """
    if not question.strip() or k < 1:
        return []
    if vector is None:
        vector = await question_vector(question)
    return await sync_to_async(retrieve_chunks_by_vector)(
        part_id=part_id, question=question, vector=vector, k=k, neighbours=neighbours
    )


async def question_vector(question: str) -> list[float]:
    """The question's embedding in the current vector space (AppError embedding_failed, ...); the
    questions asked at the same moment share one embeddings request (`embed_question`)."""
    return await embed_question(question)


def retrieve_chunks_by_vector(
    *, part_id: int, question: str, vector: Sequence[float], k: int = 8, neighbours: int = 1
) -> list[RetrievedChunk]:
    """The sync core of `retrieve_chunks`, for a question already embedded as `vector`: both rankings
    in one statement (the connection's HNSW settings: chat/vector_session.py), the context in another."""
    candidates = max(k * 4, MIN_CANDIDATES)
    ((vector_ids, keyword_ids),) = _rows(
        *rankings_sql(part_id=part_id, question=question, vector=vector, limit=candidates)
    )
    hits = fuse_rankings(vector_ids, keyword_ids)[:k]
    return hits_with_neighbours(part_id=part_id, hits=hits, neighbours=neighbours)


async def retrieve_across_parts(
    part_ids: Sequence[int], question: str, *, k: int = 8, neighbours: int = 1
) -> list[RetrievedChunk]:
    """The best `k` chunks among many parts (a collection, a library), each with its `part_id`;
    grouped by part (parts by their best hit), in time order within a part."""
    if not part_ids or not question.strip() or k < 1:
        return []
    vector = await embed_question(question)  # shares a request with questions asked at the same moment
    return await sync_to_async(retrieve_across_parts_by_vector)(
        part_ids=part_ids, question=question, vector=vector, k=k, neighbours=neighbours
    )


def retrieve_across_parts_by_vector(
    *, part_ids: Sequence[int], question: str, vector: Sequence[float], k: int = 8, neighbours: int = 1
) -> list[RetrievedChunk]:
    """The sync core of `retrieve_across_parts`: one filtered ranking of each kind over all the parts.

    The vector ranking filters the HNSW scan on the parts with an iterative scan (see
    `plan_library_search`), so a library that is a small share of the table still
    gets its `k` nearest instead of the few that survive the filter among the first candidates.
    """
    scope = sorted(set(part_ids))
    if not scope:
        return []
    candidates = max(k * 4, MIN_CANDIDATES)
    vector_ids = vector_ranking(part_id=scope, vector=vector, limit=candidates)
    keyword_ids = keyword_ranking(part_id=scope, question=question, limit=candidates)
    return hits_across_parts(hits=fuse_rankings(vector_ids, keyword_ids)[:k], neighbours=neighbours)


def hits_across_parts(*, hits: Sequence[FusedHit], neighbours: int) -> list[RetrievedChunk]:
    """`hits_with_neighbours` for hits from many parts, part by part (best part first)."""
    part_of = dict(Chunk.objects.filter(pk__in=[hit.chunk_id for hit in hits]).values_list("pk", "part_id"))
    parts = list(dict.fromkeys(part_of[hit.chunk_id] for hit in hits if hit.chunk_id in part_of))
    found: list[RetrievedChunk] = []
    for part_id in parts:
        part_hits = [hit for hit in hits if part_of.get(hit.chunk_id) == part_id]
        chunks = hits_with_neighbours(part_id=part_id, hits=part_hits, neighbours=neighbours)
        found.extend(replace(chunk, part_id=part_id) for chunk in chunks)
    return found


# --- The two rankings ---------------------------------------------------------------------------


PartScope = int | Sequence[int]


def vector_literal(vector: Sequence[float]) -> str:
    """The vector in pgvector's text form (`[1.5,-0.25,...]`), 9 significant digits a number: all
    a float32 column keeps. pgvector's own conversion takes ~1 ms for 1024 dimensions here, and
    sends twice the bytes (issue 12)."""
    return "[" + ",".join([FLOAT32_DIGITS % value for value in vector]) + "]"


# The rankings and the context are SQL written once (issue 12: the ORM built the same SQL for every
# question, ~1 ms a query here). The tests and benches EXPLAIN and time the vector ranking's SQL
# through `vector_ranking_sql` and `tune_vector_search`, as `vector_ranking` runs it.
_CHUNKS = Chunk._meta.db_table
_VECTOR_SQL = (
    "SELECT id, embedding <=> %s::vector AS distance FROM " + _CHUNKS + " WHERE {scope}"  # noqa: S608
    " AND embedding_model = %s AND embedding IS NOT NULL ORDER BY distance LIMIT %s"
)
_KEYWORD_SQL = (
    "SELECT id, ts_rank_cd(search_vector, query) AS score, ordinal FROM " + _CHUNKS + ", to_tsquery('simple', %s)"  # noqa: S608
    " AS query WHERE {scope} AND search_vector @@ query ORDER BY score DESC, ordinal LIMIT %s"
)
# One part's two rankings in one statement (issue 12): one row (vector ids, keyword ids), each best first.
# A relaxed-order iterative scan may return the vector ranking's rows out of order; sorting them again needs
# pgvector's recipe, a materialized CTE and `distance + 0`: PostgreSQL 17+ takes a plain `ORDER BY distance`
# as already sorted by the CTE's own ORDER BY and leaves the rows as the scan gave them.
_RANKINGS_SQL = f"""
WITH vector AS MATERIALIZED ({_VECTOR_SQL.format(scope="part_id = %s")}),
keyword AS ({_KEYWORD_SQL.format(scope="part_id = %s")})
SELECT ARRAY(SELECT id FROM vector ORDER BY distance + 0, id),
    ARRAY(SELECT id FROM keyword ORDER BY score DESC, ordinal)
"""  # noqa: S608 - names from the models; values are parameters
# Over many parts (`_LIBRARY_KEYWORD_SQL`), at most LIBRARY_KEYWORD_SCAN matching chunks are scored: first
# by `ts_rank` (~0.5 µs a chunk here), then only the best LIBRARY_KEYWORD_SHORTLIST × limit of them by
# `ts_rank_cd` (~8 µs a chunk: scoring all 2,000 with it was most of a library search), the order returned.
# At 8× the top 32 have the same `ts_rank_cd` scores as scoring all (bench/library_retrieval.py).
_LIBRARY_KEYWORD_SQL = f"""
WITH query AS (SELECT to_tsquery('simple', %s) AS query),
shortlist AS (
    SELECT id, ordinal, search_vector
    FROM (
        SELECT id, ordinal, search_vector FROM {_CHUNKS}
        WHERE part_id = ANY(%s) AND search_vector @@ to_tsquery('simple', %s) LIMIT %s
    ) AS matched, query
    ORDER BY ts_rank(search_vector, query.query) DESC, ordinal, id LIMIT %s
)
SELECT id FROM shortlist, query ORDER BY ts_rank_cd(search_vector, query.query) DESC, ordinal, id LIMIT %s
"""  # noqa: S608 - names from the models; values are parameters
_NEIGHBOURS_SQL = (
    "SELECT c.id, c.ordinal, c.start_ms, c.end_ms, c.text, c.token_count FROM " + _CHUNKS + " AS c"  # noqa: S608
    " WHERE c.part_id = %s AND EXISTS (SELECT 1 FROM " + _CHUNKS + " AS h WHERE h.id = ANY(%s) AND h.part_id = %s"
    " AND h.ordinal BETWEEN c.ordinal - %s AND c.ordinal + %s)"
)


def _scope_sql(part_id: PartScope) -> tuple[str, int | list[int]]:
    """The chunk condition for one part (an int) or a set of parts, and its parameter."""
    return ("part_id = %s", part_id) if isinstance(part_id, int) else ("part_id = ANY(%s)", list(part_id))


def _rows(sql: str, params: Sequence[object]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def vector_ranking(*, part_id: PartScope, vector: Sequence[float], limit: int) -> list[int]:
    """Ids of the part's `limit` chunks nearest to `vector` (cosine), nearest first."""
    sql, params = vector_ranking_sql(part_id=part_id, vector=vector, limit=limit)
    with transaction.atomic(savepoint=False):  # SET LOCAL needs a transaction; no savepoint needed
        tune_vector_search(part_id)
        rows = _rows(sql, params)
    # A relaxed-order iterative scan may return near-ties slightly out of order.
    rows.sort(key=lambda row: (row[1], row[0]))
    return [pk for pk, _ in rows]


def vector_ranking_sql(*, part_id: PartScope, vector: Sequence[float], limit: int) -> tuple[str, list[object]]:
    """The vector ranking's statement and parameters (rows: id, distance), run after `tune_vector_search`
    in the same transaction; the tests and benches EXPLAIN and time this very statement."""
    scope, scope_param = _scope_sql(part_id)
    return _VECTOR_SQL.format(scope=scope), [vector_literal(vector), scope_param, embedding_space(), limit]


def rankings_sql(*, part_id: int, question: str, vector: Sequence[float], limit: int) -> tuple[str, list[object]]:
    """One part's vector and keyword rankings in one statement, and its parameters (one row: the ids of each,
    best first); the HNSW settings are the connection's own."""
    params = [vector_literal(vector), part_id, embedding_space(), limit]
    return _RANKINGS_SQL, [*params, search_query_terms(question) or None, part_id, limit]  # no terms: NULL, no match


def tune_vector_search(part_id: PartScope) -> None:
    """The settings of the next vector ranking in this transaction (SET LOCAL): more HNSW candidates
    for one part (the values every connection starts with: `retrieve_chunks_by_vector` sets nothing);
    for many, the plan by the scope's size (`plan_library_search`)."""
    if isinstance(part_id, int):
        _tune_hnsw_for_this_transaction(HNSW_EF_SEARCH)
    else:
        plan_library_search(part_id)


def _tune_hnsw_for_this_transaction(ef_search: int = HNSW_EF_SEARCH) -> None:
    """More HNSW candidates, and keep scanning when the part filter drops most of them."""
    with connection.cursor() as cursor:
        cursor.execute(  # both as SET LOCAL, in one statement
            "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true)",
            [str(int(ef_search)), HNSW_ITERATIVE_SCAN],
        )


def plan_library_search(part_ids: Sequence[int]) -> None:
    """The plan of the next vector search in this transaction (SET LOCAL) over many parts: exact for a
    small scope, an HNSW iterative scan for a big one, whatever the planner's estimate.

    pgvector's cost estimate of an HNSW scan grows with ef_search: at the ef_search a big scope needs
    for its recall the planner may pick the exact plan instead, which sorts every chunk of the scope
    (hundreds of ms for 60k). With sorting off in this transaction only, the index is the plan.
    Small scope: index scans off, so no HNSW (a bitmap scan of the parts, then an exact sort).
    """
    with connection.cursor() as cursor:
        cursor.execute(  # one round trip: count the scope's chunks (up to the limit), then set
            """WITH scope AS (
                    SELECT count(*) > %(most)s AS big
                    FROM (SELECT 1 FROM videos_chunk WHERE part_id = ANY(%(parts)s) LIMIT %(most)s + 1) AS chunks
                )
                SELECT set_config('enable_sort', CASE WHEN big THEN 'off' ELSE 'on' END, true),
                       set_config('enable_indexscan', CASE WHEN big THEN 'on' ELSE 'off' END, true),
                       set_config('hnsw.ef_search', %(ef_search)s, true),
                       set_config('hnsw.iterative_scan', 'relaxed_order', true)
                FROM scope""",
            {"most": LIBRARY_EXACT_MAX_CHUNKS, "parts": list(part_ids), "ef_search": str(LIBRARY_EF_SEARCH)},
        )


def keyword_ranking(*, part_id: PartScope, question: str, limit: int) -> list[int]:
    """Ids of the part's chunks sharing terms with `question`, best `ts_rank_cd` first (over many parts,
    among a shortlist by `ts_rank`: see `_LIBRARY_KEYWORD_SQL`)."""
    terms = search_query_terms(question)
    if not terms:
        return []
    if isinstance(part_id, int):
        return [row[0] for row in _rows(_KEYWORD_SQL.format(scope="part_id = %s"), [terms, part_id, limit])]
    params = [terms, list(part_id), terms, LIBRARY_KEYWORD_SCAN, LIBRARY_KEYWORD_SHORTLIST * limit, limit]
    return [row[0] for row in _rows(_LIBRARY_KEYWORD_SQL, params)]


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
    near = max(neighbours, 0)
    rows = _rows(_CONTEXT_SQL, [part_id, list(by_id), part_id, near, near, part_id])
    chunks = [row[1:] for row in rows if row[0] == 0]
    cues = stored_cues([row[3:6] for row in rows if row[0] == 1])
    return [_retrieved(row, by_id.get(row[0]), cues) for row in chunks]


# The part's stored cues ([start_ms, end_ms, text] rows) that overlap one of the spans `near` (the
# chunks read), with their positions, picked by the database: a long video's whole transcript is not
# read and parsed per ask.
_CUES_OVERLAPPING_SQL = f"""
SELECT trunc((cue->>0)::numeric)::bigint, trunc((cue->>1)::numeric)::bigint, cue->>2, position
FROM {VideoPart._meta.db_table} AS part
CROSS JOIN LATERAL jsonb_array_elements(part.transcript_cues) WITH ORDINALITY AS cues (cue, position)
WHERE part.id = %s AND jsonb_typeof(cue) = 'array' AND jsonb_array_length(cue) >= 3 AND EXISTS (
    SELECT 1 FROM near AS span
    WHERE (cue->>0)::numeric < span.end_ms AND (cue->>1)::numeric > span.start_ms
)
"""  # noqa: S608 - names from the models; values are parameters
# The hits with their neighbours and those chunks' cues in one statement (issue 12): rows (0, the chunk's
# id, ordinal, start_ms, end_ms, text, token_count) by ordinal, then (1, None, position, the cue's
# start_ms, end_ms, text, None) in the transcript's order.
_CONTEXT_SQL = f"""
WITH near AS ({_NEIGHBOURS_SQL}),
lines (start_ms, end_ms, text, position) AS ({_CUES_OVERLAPPING_SQL})
SELECT 0 AS kind, id, ordinal, start_ms, end_ms, text, token_count FROM near
UNION ALL SELECT 1, NULL, position, start_ms, end_ms, text, NULL FROM lines
ORDER BY kind, ordinal
"""  # noqa: S608 - names from the models; values are parameters


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
