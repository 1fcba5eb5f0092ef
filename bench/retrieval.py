"""Retrieval benchmark: hybrid retrieval, HNSW vector search and a pure-Python cosine baseline.

    .venv/bin/python bench/retrieval.py [--sizes 10000,100000] [--queries 100] [--keep]

It works in its own database, `bench_chatbili`, created on the configured server (the embedded
one, or the server of DATABASE_URL) and dropped at the end unless --keep; the dev database's
data is never read or written. Chunks are generated Chinese text (topic words and fillers,
about 150 characters each, 200 chunks per part, one topic mix per part) embedded with the
offline n-gram embedder at 1024 dimensions, so vectors have the structure of real hashed-text
features rather than uniform noise. They are bulk-loaded with COPY, and the indexes (the
model's own HNSW and GIN definitions) are built after the load.

Each scenario answers the same questions (a few words taken from a random chunk, in question
form) and reports top-8 latency (p50/p99) and recall@8 against an exact search of the same
scope (PostgreSQL with index scans off, which rules out HNSW).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import operator
import os
import platform
import random
import sys
import time
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["OPENAI_API_KEY"] = ""  # the offline embedder: no network, deterministic vectors

from common import (
    CHUNKS_PER_PART,
    TOPICS,
    Result,
    bench_database,
    load_chunks,
    measure,
    plan_scans,
    recall,
    setup_django,
    vector_ranking_plan,
)

setup_django()

import psycopg  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.db.models import QuerySet  # noqa: E402
from pgvector.django import CosineDistance  # noqa: E402

from chat.retrieval import retrieve_chunks, retrieve_chunks_by_vector, vector_ranking  # noqa: E402
from videos.embeddings import embedding_space, offline_embedding  # noqa: E402
from videos.models import Chunk, Video, VideoPart  # noqa: E402

BENCH_DATABASE = "bench_chatbili"
DIMENSIONS = 1024
TOP_K = 8
PYTHON_GLOBAL_QUERIES = {10_000: 10, 100_000: 4}

# --- Generated Chinese text ---------------------------------------------------------------------

FILLERS = (
    "然后 其实 大家 我们 可以 看到 这个 那个 就是 所以 但是 因为 如果 感觉 非常 比较 一下 今天 视频 "
    "首先 接下来 最后 总的来说 说实话 个人 觉得 还是 已经 应该 可能 一定 特别 基本 完全 直接 时候 地方 问题"
).split()
QUESTION_FORMS = ["{}是怎么回事", "视频里讲的{}是什么", "{}怎么样", "关于{}有什么建议", "{}要注意什么"]


def chunk_words(index: int) -> list[str]:
    """The words of chunk `index`: mostly its part's topic, some of a second topic, fillers."""
    part = index // CHUNKS_PER_PART
    rng = random.Random(index)
    main = TOPICS[part % len(TOPICS)].split()
    second = TOPICS[(part * 7 + 3) % len(TOPICS)].split()
    words = []
    for _ in range(rng.randint(45, 60)):
        roll = rng.random()
        words.append(rng.choice(main if roll < 0.55 else second if roll < 0.7 else FILLERS))
    return words


def chunk_text(words: Sequence[str]) -> str:
    sentences = ["".join(words[start : start + 8]) for start in range(0, len(words), 8)]
    return "，".join(sentences) + "。"


def question_for(index: int, rng: random.Random) -> str:
    words = chunk_words(index)
    start = rng.randrange(len(words) - 3)
    return rng.choice(QUESTION_FORMS).format("".join(words[start : start + rng.randint(2, 3)]))


def chunk_content(index: int) -> tuple[str, list[float]]:
    """Chunk `index`'s text, and its vector from the offline embedder."""
    text = chunk_text(chunk_words(index))
    return text, offline_embedding(text, DIMENSIONS)


# --- The bench database -----------------------------------------------------------------------


def create_parts(first: int, count: int) -> dict[int, int]:
    """One video per part; returns part number → VideoPart id."""
    ids = {}
    for number in range(first, first + count):
        video = Video.objects.create(bvid=f"BV1bench{number:04d}", aid=number + 1, title=f"第{number}个视频")
        ids[number] = VideoPart.objects.create(video=video, page=1, cid=number + 1).pk
    return ids


# --- Searches -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    part_id: int
    question: str
    vector: list[float]


def make_queries(count: int, chunks: int, seed: int) -> list[Query]:
    rng = random.Random(seed)
    part_ids = dict(VideoPart.objects.values_list("cid", "pk"))  # cid = part number + 1
    queries = []
    for _ in range(count):
        index = rng.randrange(chunks)
        question = question_for(index, rng)
        queries.append(Query(part_ids[index // CHUNKS_PER_PART + 1], question, offline_embedding(question, DIMENSIONS)))
    return queries


def global_queryset(vector: Sequence[float]) -> QuerySet[Chunk]:
    """Top-8 over the whole table (one vector space)."""
    return (
        Chunk.objects.filter(embedding_model=embedding_space())
        .order_by(CosineDistance("embedding", list(vector)))
        .values_list("pk", flat=True)[:TOP_K]
    )


def global_nearest(vector: Sequence[float], ef_search: int) -> list[int]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        return list(global_queryset(vector))


def part_vector_forced_hnsw(query: Query) -> list[int]:
    """The per-part vector ranking with every plan but the HNSW index switched off."""
    with transaction.atomic(), connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        return vector_ranking(part_id=query.part_id, vector=query.vector, limit=TOP_K)


def hybrid_hits(query: Query) -> list[int]:
    found = retrieve_chunks_by_vector(
        part_id=query.part_id, question=query.question, vector=query.vector, k=TOP_K, neighbours=1
    )
    return [chunk.chunk_id for chunk in found if not chunk.is_context]


@contextmanager
def exact_search() -> Iterator[None]:
    """Index scans off for the session: no HNSW, so vector orderings are exact."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_indexscan = off")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_indexscan")


def global_plan(vector: Sequence[float], ef_search: int) -> str:
    """The scan nodes of the plan the planner picks for the global top-8 at this ef_search."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        return plan_scans(*global_queryset(vector).query.sql_with_params())


# --- The pure-Python baseline ---------------------------------------------------------------------


def load_vectors(part_id: int | None) -> list[tuple[int, array, float]]:
    """(id, float4 array, norm) of a part's vectors, or of all of them (binary transfer)."""
    sql = "SELECT id, embedding FROM videos_chunk WHERE embedding IS NOT NULL"
    params: list[int] = []
    if part_id is not None:
        sql += " AND part_id = %s"
        params.append(part_id)
    rows = []
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with psycopg.Cursor(raw.connection) as binary:  # Django's client-side cursors are text-only
            binary.execute(sql, params, binary=True)
            for pk, data in binary:
                values = array("f")
                values.frombytes(bytes(data)[4:])
                if sys.byteorder == "little":
                    values.byteswap()
                rows.append((pk, values, math.sqrt(sum(map(operator.mul, values, values)))))
    return rows


def python_nearest(vectors: Sequence[tuple[int, array, float]], query: Sequence[float]) -> list[int]:
    query_norm = math.sqrt(sum(value * value for value in query)) or 1.0
    scored = [
        (-sum(map(operator.mul, values, query)) / ((norm or 1.0) * query_norm), pk) for pk, values, norm in vectors
    ]
    return [pk for _, pk in sorted(scored)[:TOP_K]]


# --- Measuring ------------------------------------------------------------------------------------


def measure_async_hybrid(queries: Sequence[Query], exact: list[list[int]]) -> Result:
    """`retrieve_chunks` end to end: question embedding (offline) + the thread hop + the queries."""

    async def run() -> Result:
        await retrieve_chunks(queries[0].part_id, queries[0].question, k=TOP_K)
        latencies, recalls = [], []
        for query, truth in zip(queries, exact, strict=True):
            started = time.perf_counter()
            found = await retrieve_chunks(query.part_id, query.question, k=TOP_K)
            latencies.append((time.perf_counter() - started) * 1000)
            recalls.append(recall([chunk.chunk_id for chunk in found if not chunk.is_context], truth))
        await sync_to_async(connections.close_all)()
        return Result("hybrid retrieve_chunks (async, end to end)", latencies, recalls)

    return asyncio.run(run())


def bench_size(chunks: int, queries: list[Query]) -> list[Result]:
    with exact_search():
        exact_global = [global_nearest(query.vector, 40) for query in queries]
        exact_part = [vector_ranking(part_id=q.part_id, vector=q.vector, limit=TOP_K) for q in queries]
        exact_hybrid = [hybrid_hits(query) for query in queries]
    results = [
        measure_async_hybrid(queries, exact_hybrid),
        measure("hybrid retrieve_chunks_by_vector (sync)", queries, hybrid_hits, exact_hybrid),
        measure(
            "vector per part (planner's choice)",
            queries,
            lambda q: vector_ranking(part_id=q.part_id, vector=q.vector, limit=TOP_K),
            exact_part,
        ),
        measure("vector per part, HNSW forced + iterative", queries, part_vector_forced_hnsw, exact_part),
        measure("vector global HNSW ef_search=40", queries, lambda q: global_nearest(q.vector, 40), exact_global),
        measure("vector global HNSW ef_search=100", queries, lambda q: global_nearest(q.vector, 100), exact_global),
    ]
    sample = queries[0]
    results[2].note = vector_ranking_plan(sample.part_id, sample.vector, TOP_K)
    results[4].note = global_plan(sample.vector, 40)
    results[5].note = global_plan(sample.vector, 100)
    with exact_search():
        results.append(
            measure(
                "vector global exact (seq scan)", queries[:20], lambda q: global_nearest(q.vector, 40), exact_global
            )
        )
    results.append(
        measure(
            "python brute force per part (load+cosine)",
            queries,
            lambda q: python_nearest(load_vectors(q.part_id), q.vector),
            exact_part,
        )
    )
    results.append(python_global(chunks, queries, exact_global))
    return results


def python_global(chunks: int, queries: Sequence[Query], exact: list[list[int]]) -> Result:
    """The old way over the whole table: all vectors in memory, cosine in pure Python."""
    started = time.perf_counter()
    vectors = load_vectors(None)
    load_seconds = time.perf_counter() - started
    count = PYTHON_GLOBAL_QUERIES.get(chunks, 4)
    result = measure(
        "python brute force global (in memory)", queries[:count], lambda q: python_nearest(vectors, q.vector), exact
    )
    result.note = f"loading {len(vectors)} vectors took {load_seconds:.1f} s"
    return result


# --- Report -----------------------------------------------------------------------------------


def machine_lines() -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "?")
    meminfo = Path("/proc/meminfo").read_text().split()
    ram_gb = int(meminfo[meminfo.index("MemTotal:") + 1]) / 1024 / 1024
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('shared_buffers')")
        server, shared_buffers = cursor.fetchone()
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (pgvector,) = cursor.fetchone()
    python = platform.python_version()
    return [
        f"CPU: {model}; {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); RAM {ram_gb:.1f} GB",
        f"Python {python}; PostgreSQL {server}; pgvector {pgvector}; shared_buffers={shared_buffers}",
        f"embedder: {embedding_space()} (offline), {DIMENSIONS} dims; {CHUNKS_PER_PART} chunks per part",
    ]


def table_sizes() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('videos_chunk')), "
            "pg_size_pretty(pg_relation_size('chunk_embedding_hnsw_cosine'))"
        )
        total, hnsw = cursor.fetchone()
    return f"table+indexes {total}, HNSW index {hnsw}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated chunk counts, ascending")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DATABASE} database")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    settings.DEBUG = False  # no query log and no debug cursor, as in production
    run_started = time.perf_counter()
    # The pool forks before any database connection exists.
    with (
        multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool,
        bench_database(BENCH_DATABASE, keep=args.keep),
    ):
        print("\n".join(machine_lines()), flush=True)
        loaded = 0
        for size in sizes:
            part_ids = create_parts(loaded // CHUNKS_PER_PART, math.ceil((size - loaded) / CHUNKS_PER_PART))
            timings = load_chunks(range(loaded, size), chunk_content, part_ids, pool)
            loaded = size
            print(f"\n{size} chunks: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()) + f"; {table_sizes()}")
            for result in bench_size(size, make_queries(args.queries, size, seed=size)):
                print(result.line(), flush=True)
    print(f"\ntotal run time {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
