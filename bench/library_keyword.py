"""The keyword half of library search at library scale: 300k chunks of 5 users, top-32 over one user's 60k.

    .venv/bin/python bench/library_keyword.py [--chunks 300000] [--users 5] [--questions 64]
    .venv/bin/python bench/library_keyword.py --keep      # load once (about a minute), keep the database
    .venv/bin/python bench/library_keyword.py --reuse     # measure the kept one again (add --keep to keep it)

The chunks are `bench/library_retrieval.py`'s (the same parts, owners and topic text), without vectors: the
keyword statements never read them, so loading takes about a minute instead of the HNSW build's ten. It
works in its own database, `bench_chatbili_keyword` (created migrated, dropped at the end unless --keep).

Measured: the site's `chat.retrieval.keyword_ranking` over the user's parts (the statement library search
and cross-video chat run), and for reference every matching chunk it reads (at most LIBRARY_KEYWORD_SCAN)
scored by `ts_rank_cd`, the ranking before the `ts_rank` shortlist; "same scores" counts the questions
whose top-32 `ts_rank_cd` scores are the reference's (ties may pick other chunks of the same score).
Then EXPLAIN ANALYZE of the site's statement for the first question.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["OPENAI_API_KEY"] = ""  # no network

from common import CHUNKS_PER_PART, bench_database, machine, setup_django

setup_django()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from library_retrieval import chunk_text, create_library  # noqa: E402

import chat.retrieval as chat_retrieval  # noqa: E402
from chat.library import library_ready_part_ids  # noqa: E402
from videos.search_text import search_query_terms, search_terms  # noqa: E402

DATABASE = "bench_chatbili_keyword"
LIMIT = 32  # candidates a ranking gives the fusion (k = 8)
LOAD_BATCH = 20_000
# Questions with terms in no chunk, or in other users' only, besides the bench's own.
EXTRA_QUESTIONS = ["量子计算机是什么", "红烧肉怎么炒糖色", "显卡温度和功耗", "增肌饮食"]
REFERENCE_SQL = """
SELECT id FROM (
    SELECT id, ordinal, search_vector FROM videos_chunk
    WHERE part_id = ANY(%s) AND search_vector @@ to_tsquery('simple', %s) LIMIT %s
) AS matched, to_tsquery('simple', %s) AS query
ORDER BY ts_rank_cd(search_vector, query) DESC, ordinal, id LIMIT %s
"""


def load(chunks: int, users: int) -> None:
    """The parts and owners of library_retrieval's load; each chunk's text and search vector, no embedding."""
    part_ids, _owners = create_library(math.ceil(chunks / CHUNKS_PER_PART), users)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE loaded (part_id bigint, ordinal int, text text, terms text)")
        for start in range(0, chunks, LOAD_BATCH):
            with cursor.cursor.copy("COPY loaded FROM STDIN") as copy:
                for index in range(start, min(start + LOAD_BATCH, chunks)):
                    text = chunk_text(index)
                    copy.write_row(
                        (part_ids[index // CHUNKS_PER_PART], index % CHUNKS_PER_PART, text, search_terms(text))
                    )
        cursor.execute(
            "INSERT INTO videos_chunk (part_id, ordinal, start_ms, end_ms, text, token_count, embedding_model,"
            " search_vector) SELECT part_id, ordinal, ordinal * 5000, ordinal * 5000 + 4900, text, 20, '',"
            " to_tsvector('simple', terms) FROM loaded"
        )
        cursor.execute("VACUUM ANALYZE videos_chunk")


def user_question(number: int, user_parts: int, users: int) -> str:
    """Like library_retrieval's: the first words of one of the user's chunks (user 0 owns every `users`-th part)."""
    index = (number % user_parts) * users * CHUNKS_PER_PART + number % CHUNKS_PER_PART
    return chunk_text(index).split("，")[0][:4] + "怎么样"


def reference(scope: list[int], question: str) -> list[int]:
    terms = search_query_terms(question)
    with connection.cursor() as cursor:
        cursor.execute(REFERENCE_SQL, [scope, terms, chat_retrieval.LIBRARY_KEYWORD_SCAN, terms, LIMIT])
        return [row[0] for row in cursor.fetchall()]


def site(scope: list[int], question: str) -> list[int]:
    return chat_retrieval.keyword_ranking(part_id=scope, question=question, limit=LIMIT)


def scores(chunk_ids: list[int], question: str) -> list[float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ts_rank_cd(search_vector, to_tsquery('simple', %s)) FROM videos_chunk WHERE id = ANY(%s)",
            [search_query_terms(question), chunk_ids],
        )
        return sorted((round(row[0], 6) for row in cursor.fetchall()), reverse=True)


def timed(search: Callable[[list[int], str], list[int]], scope: list[int], questions: list[str]) -> list[float]:
    search(scope, questions[0])  # warm-up
    latencies = []
    for question in questions * 3:
        started = time.perf_counter()
        search(scope, question)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def line(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    return f"  {name:<58} n={len(ordered):>3}  p50 {statistics.median(ordered):7.2f} ms  p99 {p99:7.2f} ms"


def measure(scope: list[int], questions: list[str]) -> None:
    same = sum(scores(site(scope, q), q) == scores(reference(scope, q), q) for q in questions)
    print(line("site's keyword ranking (ts_rank shortlist, then ts_rank_cd)", timed(site, scope, questions)))
    print(line("reference: every read match scored by ts_rank_cd", timed(reference, scope, questions)))
    print(f"  same top-{LIMIT} ts_rank_cd scores as the reference: {same} of {len(questions)} questions")
    terms = search_query_terms(questions[0])
    params = [terms, scope, terms, chat_retrieval.LIBRARY_KEYWORD_SCAN]
    params += [chat_retrieval.LIBRARY_KEYWORD_SHORTLIST * LIMIT, LIMIT]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + chat_retrieval._LIBRARY_KEYWORD_SQL, params)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"EXPLAIN ANALYZE of the site's statement for {questions[0]!r} (the parts list elided):")
    print("\n".join("  " + row.split(" = ANY ('{")[0] for row in plan))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=300_000)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--keep", action="store_true", help=f"keep the {DATABASE} database")
    parser.add_argument("--reuse", action="store_true", help=f"measure the kept {DATABASE} (same arguments)")
    args = parser.parse_args()
    settings.DEBUG = False
    print(machine(), flush=True)
    with bench_database(DATABASE, keep=args.keep, reuse=args.reuse):
        started = time.perf_counter()
        if not args.reuse:
            load(args.chunks, args.users)
        loaded = time.perf_counter() - started
        user = get_user_model().objects.order_by("pk").first()
        scope = library_ready_part_ids(user=user)
        count = max(1, args.questions - len(EXTRA_QUESTIONS))
        questions = [user_question(number, len(scope), args.users) for number in range(count)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version'), count(*) FROM videos_chunk")
            server, total = cursor.fetchone()
        print(
            f"PostgreSQL {server}; {total} chunks, {args.users} users; the user's scope: {len(scope)} parts = "
            f"{len(scope) * CHUNKS_PER_PART} chunks; load {loaded:.0f} s; load average {os.getloadavg()[0]:.1f}"
        )
        measure(scope, questions + EXTRA_QUESTIONS)


if __name__ == "__main__":
    main()
