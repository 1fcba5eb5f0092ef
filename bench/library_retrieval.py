"""Library-scale retrieval: top-8 over one user's 60k chunks among 300k, filtered HNSW vs exact.

    .venv/bin/python bench/library_retrieval.py [--chunks 300000] [--users 5] [--queries 100] [--uniform]
    .venv/bin/python bench/library_retrieval.py --keep     # load once (minutes), keep the database
    .venv/bin/python bench/library_retrieval.py --reuse    # measure the kept one again (add --keep to keep it)

It works in its own database, `bench_chatbili_library` (created migrated on the configured server,
dropped at the end). `--users` users own the same number of one-part videos each (200 chunks per
part), so with the defaults the measured user owns 300 parts = 60k chunks of the 300k. The
chunks are bulk-loaded with binary COPY with the indexes dropped, then the model's own HNSW and
GIN indexes are built.

Vectors are random 1024-dim vectors with structure: a topic (64 of them), a part offset, a section
offset (10 chunks) and per-chunk noise, so a chunk's true neighbours are a few of its section's
and its part's, as with real embeddings; `--uniform` uses uniform noise instead (the worst case
for any approximate index: every distance is nearly the same). A question's vector is a random
chunk of the user's, plus noise. Text is topic words, for the keyword half of hybrid retrieval.

Reported for each query kind: p50/p99 latency and recall@8 against the exact search of the same
scope (index scans off, which rules out HNSW). The vector search measured is the site's own
(`chat.retrieval.vector_ranking` over a list of parts): an HNSW iterative scan kept on the index
when the scope has more than `LIBRARY_EXACT_MAX_CHUNKS` chunks, an exact search otherwise (the
10-part collection line). The header names the HNSW index's build parameters.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["OPENAI_API_KEY"] = ""  # the offline embedder: no network

from common import (
    CHUNKS_PER_PART,
    TOPICS,
    Result,
    bench_database,
    load_chunks,
    machine,
    measure,
    setup_django,
    vector_ranking_plan,
)

setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402

import chat.retrieval as chat_retrieval  # noqa: E402
from chat.library import library_ready_part_ids  # noqa: E402
from chat.retrieval import (  # noqa: E402
    keyword_ranking,
    retrieve_across_parts_by_vector,
    tune_vector_search,
    vector_ranking,
    vector_ranking_sql,
)
from videos.models import Video, VideoPart, VideoRequest  # noqa: E402

DATABASE = "bench_chatbili_library"
DIMENSIONS = 1024
CHUNKS_PER_SECTION = 10
TOPIC_COUNT = 64
TOP_K = 8
SMALL_SCOPE_PARTS = 10  # a collection of 2,000 chunks: under LIBRARY_EXACT_MAX_CHUNKS, searched exactly
# Standard deviations of each level of the generated vectors (see the module docstring).
PART_SPREAD, SECTION_SPREAD, CHUNK_SPREAD, QUESTION_SPREAD = 0.7, 0.5, 0.35, 0.2
UNIFORM = False  # set from --uniform before the pool forks


# --- Generated vectors and text ---------------------------------------------------------------


def gaussian(seed: int, scale: float) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(0.0, scale) for _ in range(DIMENSIONS)]


def noise(rng: random.Random, scale: float) -> array:
    """Cheap noise: uniform int8 bytes (variance ≈ 1/3 after scaling to [-1, 1]) times `scale`·√3."""
    factor = scale * math.sqrt(3) / 128
    return array("f", (value * factor for value in array("b", rng.randbytes(DIMENSIONS))))


_section_cache: dict[int, list[float]] = {}


def section_centre(section: int) -> list[float]:
    """topic + part offset + section offset, for a section (global number)."""
    if section not in _section_cache:
        part = section * CHUNKS_PER_SECTION // CHUNKS_PER_PART
        topic = gaussian(10_000_000 + part % TOPIC_COUNT, 1.0)
        part_offset = gaussian(20_000_000 + part, PART_SPREAD)
        section_offset = gaussian(30_000_000 + section, SECTION_SPREAD)
        _section_cache.clear() if len(_section_cache) > 64 else None
        _section_cache[section] = [a + b + c for a, b, c in zip(topic, part_offset, section_offset, strict=True)]
    return _section_cache[section]


def chunk_vector(index: int) -> list[float]:
    rng = random.Random(index)
    if UNIFORM:
        return list(noise(rng, 1.0))
    centre = section_centre(index // CHUNKS_PER_SECTION)
    return [c + n for c, n in zip(centre, noise(rng, CHUNK_SPREAD), strict=True)]


def chunk_text(index: int) -> str:
    part = index // CHUNKS_PER_PART
    words = TOPICS[part % len(TOPICS)].split()
    rng = random.Random(index)
    return "，".join("".join(rng.sample(words, 4)) for _ in range(4)) + "。"


def chunk_content(index: int) -> tuple[str, list[float]]:
    return chunk_text(index), chunk_vector(index)


# --- Loading ------------------------------------------------------------------------------------


def create_library(parts: int, users: int) -> tuple[dict[int, int], list]:
    """One video of one part per part number, the videos dealt round-robin to the users."""
    user_model = get_user_model()
    owners = [user_model.objects.create_user(f"bench{number}") for number in range(users)]
    videos = Video.objects.bulk_create(
        Video(bvid=f"BV1lib{number:06d}", aid=number + 1, title=f"第{number}个视频") for number in range(parts)
    )
    created = VideoPart.objects.bulk_create(
        VideoPart(video=video, page=1, cid=number + 1, stage=VideoPart.Stage.READY)
        for number, video in enumerate(videos)
    )
    VideoRequest.objects.bulk_create(
        VideoRequest(user=owners[number % users], video=video) for number, video in enumerate(videos)
    )
    return {number: part.pk for number, part in enumerate(created)}, owners


def load(chunks: int, users: int, pool: multiprocessing.pool.Pool) -> tuple[list, dict[str, float]]:
    part_ids, owners = create_library(math.ceil(chunks / CHUNKS_PER_PART), users)
    return owners, load_chunks(range(chunks), chunk_content, part_ids, pool)


# --- Measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    question: str
    vector: list[float]


def make_queries(user_part_numbers: Sequence[int], count: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        index = rng.choice(user_part_numbers) * CHUNKS_PER_PART + rng.randrange(CHUNKS_PER_PART)
        vector = [value + extra for value, extra in zip(chunk_vector(index), noise(rng, QUESTION_SPREAD), strict=True)]
        words = chunk_text(index).split("，")[0]
        queries.append(Query(f"{words[:4]}怎么样", vector))
    return queries


def exact(search: Callable[[], list[int]]) -> list[int]:
    """`search` with index scans off (no HNSW, so every vector ordering is exact), at any scope size."""
    exact_max = chat_retrieval.LIBRARY_EXACT_MAX_CHUNKS
    chat_retrieval.LIBRARY_EXACT_MAX_CHUNKS = 10**9  # the library ranking's exact plan, whatever the size
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")
            return search()
    finally:
        chat_retrieval.LIBRARY_EXACT_MAX_CHUNKS = exact_max


def vector_top(scope: list[int], query: Query, limit: int = TOP_K, iterative: bool = True) -> list[int]:
    if iterative:
        return vector_ranking(part_id=scope, vector=query.vector, limit=limit)
    sql, params = vector_ranking_sql(part_id=scope, vector=query.vector, limit=limit)
    with transaction.atomic(), connection.cursor() as cursor:  # the library's statement and plan, not iterating
        tune_vector_search(scope)
        cursor.execute("SET LOCAL hnsw.iterative_scan = off")
        cursor.execute(sql, params)
        return [pk for pk, _ in cursor.fetchall()]


def hybrid(user, query: Query) -> list[int]:
    """What library search does after embedding the question: the scope, then hybrid retrieval."""
    scope = library_ready_part_ids(user=user)
    found = retrieve_across_parts_by_vector(part_ids=scope, question=query.question, vector=query.vector, k=TOP_K)
    return [chunk.chunk_id for chunk in found if not chunk.is_context]


def bench(user, queries: list[Query]) -> list[Result]:
    scope = library_ready_part_ids(user=user)
    truth = [exact(lambda q=query: vector_ranking(part_id=scope, vector=q.vector, limit=TOP_K)) for query in queries]
    truth_hybrid = [exact(lambda q=query: hybrid(user, q)) for query in queries]
    results = [
        measure("vector top-8, user filter (HNSW, iterative scan)", queries, lambda q: vector_top(scope, q), truth),
        measure(
            "vector top-8, user filter (HNSW, no iterative scan)",
            queries,
            lambda q: vector_top(scope, q, iterative=False),
            truth,
        ),
        measure(
            "hybrid top-8 incl. the user's scope (library search)", queries, lambda q: hybrid(user, q), truth_hybrid
        ),
        measure(
            f"vector top-8, a {SMALL_SCOPE_PARTS}-part collection (exact plan)",
            queries,
            lambda q: vector_ranking(part_id=scope[:SMALL_SCOPE_PARTS], vector=q.vector, limit=TOP_K),
            [
                exact(lambda q=q: vector_ranking(part_id=scope[:SMALL_SCOPE_PARTS], vector=q.vector, limit=TOP_K))
                for q in queries
            ],
        ),
        measure(
            "vector top-8, user filter, exact (no index)",
            queries[:20],
            lambda q: exact(lambda: vector_ranking(part_id=scope, vector=q.vector, limit=TOP_K)),
            truth[:20],
        ),
    ]
    keyword_truth = [keyword_ranking(part_id=scope, question=q.question, limit=TOP_K * 4) for q in queries]
    results.append(
        measure(
            "keyword half of hybrid (32 candidates)",
            queries,
            lambda q: keyword_ranking(part_id=scope, question=q.question, limit=TOP_K * 4),
            keyword_truth,
        )
    )
    results.append(
        measure(
            "vector half of hybrid (32 candidates)",
            queries,
            lambda q: vector_ranking(part_id=scope, vector=q.vector, limit=TOP_K * 4),
            [exact(lambda q=q: vector_ranking(part_id=scope, vector=q.vector, limit=TOP_K * 4)) for q in queries],
        )
    )
    results[0].note = vector_ranking_plan(scope, queries[0].vector, TOP_K)
    return results


def main() -> None:
    global UNIFORM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=300_000)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--uniform", action="store_true", help="uniform random vectors (no structure)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {DATABASE} database")
    parser.add_argument("--ef-search", type=int, default=0, help="override LIBRARY_EF_SEARCH (exploring)")
    parser.add_argument("--reuse", action="store_true", help=f"measure the kept {DATABASE} (same arguments)")
    args = parser.parse_args()
    UNIFORM = args.uniform
    if args.ef_search:
        chat_retrieval.LIBRARY_EF_SEARCH = args.ef_search
    settings.DEBUG = False
    run_started = time.perf_counter()
    print(machine(), flush=True)
    pool = multiprocessing.get_context("fork").Pool(os.cpu_count() or 1)
    with pool, bench_database(DATABASE, keep=args.keep, reuse=args.reuse):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('server_version'), extversion FROM pg_extension WHERE extname='vector'"
            )
            server, pgvector = cursor.fetchone()
            cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'chunk_embedding_hnsw_cosine'")
            (hnsw_options,) = cursor.fetchone() or ([],)
        if args.reuse:
            owners, timings = list(get_user_model().objects.order_by("pk")), {}
        else:
            owners, timings = load(args.chunks, args.users, pool)
        user = owners[0]
        user_parts = list(range(0, math.ceil(args.chunks / CHUNKS_PER_PART), args.users))
        kind = "uniform random" if UNIFORM else "structured random (topic/part/section/noise)"
        print(f"PostgreSQL {server}, pgvector {pgvector}; {DIMENSIONS}-dim {kind} vectors")
        print(
            f"HNSW index {', '.join(hnsw_options or [])}; hnsw.ef_search {chat_retrieval.LIBRARY_EF_SEARCH} over "
            f"more than {chat_retrieval.LIBRARY_EXACT_MAX_CHUNKS} chunks (exact below); "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        print(
            f"{args.chunks} chunks, {args.users} users; the measured user has {len(user_parts)} parts = "
            f"{len(user_parts) * CHUNKS_PER_PART} chunks; " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        )
        for result in bench(user, make_queries(user_parts, args.queries, seed=7)):
            print(result.line(), flush=True)
    print(f"total run time {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
