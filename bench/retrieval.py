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
import multiprocessing.pool
import operator
import os
import platform
import random
import statistics
import struct
import sys
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ["DJANGO_SETTINGS_MODULE"] = "chatbili_site.settings"
os.environ["DEBUG"] = "true"  # so that settings need no SECRET_KEY
os.environ["OPENAI_API_KEY"] = ""  # the offline embedder: no network, deterministic vectors

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.db.models import QuerySet  # noqa: E402
from pgvector.django import CosineDistance  # noqa: E402

from chat.retrieval import HNSW_EF_SEARCH, retrieve_chunks, retrieve_chunks_by_vector, vector_queryset, vector_ranking  # noqa: E402
from videos.embeddings import embedding_space, offline_embedding  # noqa: E402
from videos.models import Chunk, Video, VideoPart  # noqa: E402
from videos.search_text import search_terms  # noqa: E402

BENCH_DATABASE = "bench_chatbili"
DIMENSIONS = 1024
CHUNKS_PER_PART = 200
TOP_K = 8
LOAD_BATCH = 5000
PYTHON_GLOBAL_QUERIES = {10_000: 10, 100_000: 4}

# --- Generated Chinese text ---------------------------------------------------------------------

TOPICS = [
    "处理器 显卡 内存 固态硬盘 散热 风扇 跑分 功耗 续航 屏幕 刷新率 键盘 触控板 接口 充电器 轻薄本 游戏本 帧率 温度",
    "红烧肉 五花肉 焯水 糖色 生抽 老抽 冰糖 八角 桂皮 小火 收汁 砂锅 葱姜 料酒 米饭 火候 口感 软糯 肥而不腻 出锅",
    "原神 副本 角色 抽卡 圣遗物 元素 队伍 输出 治疗 深渊 版本 活动 剧情 地图 宝箱 任务 武器 突破 天赋 体力",
    "基金 股票 利率 通胀 美联储 债券 指数 定投 仓位 收益 回撤 风险 估值 市盈率 分红 银行 理财 存款 房贷 消费",
    "相机 镜头 光圈 快门 感光度 对焦 防抖 画幅 焦段 人像 风光 夜景 后期 调色 曝光 构图 滤镜 三脚架 闪光灯 像素",
    "健身 深蹲 卧推 硬拉 蛋白质 减脂 增肌 有氧 拉伸 核心 组数 次数 饮食 热量 碳水 睡眠 恢复 肌肉 关节 心率",
    "编程 函数 变量 数据库 索引 接口 缓存 并发 线程 异步 部署 服务器 容器 日志 测试 重构 框架 算法 复杂度 内存泄漏",
    "旅行 机票 酒店 签证 行程 景点 门票 高铁 地铁 攻略 美食 夜市 博物馆 古镇 海边 雪山 徒步 民宿 预算 拍照",
    "历史 朝代 皇帝 战争 诗人 丞相 变法 科举 丝绸之路 长城 都城 起义 外交 文化 典籍 考古 文物 制度 边疆 王朝",
    "汽车 发动机 电池 续航里程 充电桩 底盘 悬挂 油耗 座椅 空间 智能驾驶 车机 保养 保险 试驾 加速 刹车 轮胎 变速箱",
]
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


def vector_bytes(vector: Sequence[float]) -> bytes:
    """pgvector's binary format: dimensions, a reserved zero, then big-endian float4s."""
    values = array("f", vector)
    if sys.byteorder == "little":
        values.byteswap()
    return struct.pack(">HH", len(values), 0) + values.tobytes()


def generate_rows(indexes: range) -> list[tuple[int, int, str, str, bytes]]:
    """(part number, ordinal, text, keyword terms, binary vector) for each chunk index."""
    rows = []
    for index in indexes:
        text = chunk_text(chunk_words(index))
        vector = offline_embedding(text, DIMENSIONS)
        rows.append((index // CHUNKS_PER_PART, index % CHUNKS_PER_PART, text, search_terms(text), vector_bytes(vector)))
    return rows


# --- The bench database -----------------------------------------------------------------------


@contextmanager
def bench_database(keep: bool) -> Iterator[None]:
    """Create `bench_chatbili` on the configured server, point Django at it, drop it after."""
    default = connections["default"]
    default.settings_dict["OPTIONS"].pop("pool", None)  # one plain connection is all we need
    _admin_execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
    _admin_execute(f"CREATE DATABASE {BENCH_DATABASE}")
    server_database = default.settings_dict["NAME"]
    default.settings_dict["NAME"] = BENCH_DATABASE
    try:
        call_command("migrate", "videos", verbosity=0)
        yield
    finally:
        connections.close_all()
        default.settings_dict["NAME"] = server_database
        if not keep:
            _admin_execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        connections.close_all()


def _admin_execute(sql: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql)
    connection.close()


def chunk_index_sql(drop: bool) -> list[str]:
    """The model's own index definitions (HNSW and GIN), to drop before and build after a load."""
    with connection.schema_editor(collect_sql=True) as editor:
        for index in Chunk._meta.indexes:
            editor.execute(index.remove_sql(Chunk, editor) if drop else index.create_sql(Chunk, editor))
    return editor.collected_sql


def execute_all(statements: Sequence[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def create_parts(first: int, count: int) -> dict[int, int]:
    """One video per part; returns part number → VideoPart id."""
    ids = {}
    for number in range(first, first + count):
        video = Video.objects.create(bvid=f"BV1bench{number:04d}", aid=number + 1, title=f"第{number}个视频")
        ids[number] = VideoPart.objects.create(video=video, page=1, cid=number + 1).pk
    return ids


def copy_chunks(rows: Sequence[tuple[int, int, str, str, bytes]], part_ids: dict[int, int], space: str) -> None:
    """COPY the chunks in binary, then fill search_vector from the terms in one UPDATE."""
    columns = "part_id, ordinal, start_ms, end_ms, text, token_count, embedding, embedding_model"
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY videos_chunk ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
            for part, ordinal, text, _, vector in rows:
                fields = [
                    struct.pack(">q", part_ids[part]),
                    struct.pack(">i", ordinal),
                    struct.pack(">i", ordinal * 30_000),
                    struct.pack(">i", ordinal * 30_000 + 29_000),
                    text.encode(),
                    struct.pack(">i", len(text)),
                    vector,
                    space.encode(),
                ]
                copy.write(struct.pack(">h", len(fields)) + b"".join(struct.pack(">i", len(f)) + f for f in fields))
            copy.write(struct.pack(">h", -1))
        cursor.execute(
            "UPDATE videos_chunk AS c SET search_vector = to_tsvector('simple', v.terms) "
            "FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS v(part_id, ordinal, terms) "
            "WHERE c.part_id = v.part_id AND c.ordinal = v.ordinal",
            [[part_ids[row[0]] for row in rows], [row[1] for row in rows], [row[3] for row in rows]],
        )


def load_chunks(first: int, last: int, pool: multiprocessing.pool.Pool) -> dict[str, float]:
    """Generate and store chunks first..last-1 with the indexes dropped, then rebuild them."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    execute_all(chunk_index_sql(drop=True))
    part_ids = create_parts(first // CHUNKS_PER_PART, math.ceil((last - first) / CHUNKS_PER_PART))
    space = embedding_space()
    batches = [range(start, min(start + LOAD_BATCH, last)) for start in range(first, last, LOAD_BATCH)]
    for rows in pool.imap(generate_rows, batches):
        with transaction.atomic():
            copy_chunks(rows, part_ids, space)
    timings["generate+embed+copy"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '2GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
        execute_all(chunk_index_sql(drop=False))
    timings["index build (HNSW+GIN)"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE videos_chunk")
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


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


def scans_of(queryset: QuerySet, ef_search: int) -> str:
    """The scan nodes of the plan the planner picks for `queryset` at this ef_search."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
        plan = queryset.explain()
    scans = [line.strip().removeprefix("->  ").split("  (")[0] for line in plan.splitlines() if "Scan" in line]
    return "plan: " + "; ".join(scans)


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


@dataclass
class Result:
    name: str
    latencies_ms: list[float]
    recalls: list[float]
    note: str = ""

    def line(self) -> str:
        ordered = sorted(self.latencies_ms)
        p50 = statistics.median(ordered)
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
        recall = statistics.fmean(self.recalls) if self.recalls else float("nan")
        figures = f"n={len(ordered):>3}  p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  recall@8 {recall:.3f}"
        return f"  {self.name:<44} {figures}  {self.note}"


def recall(found: Sequence[int], exact: Sequence[int]) -> float:
    return len(set(found) & set(exact)) / len(exact) if exact else 1.0


def measure(
    name: str, queries: Sequence[Query], search: Callable[[Query], list[int]], exact: list[list[int]]
) -> Result:
    search(queries[0])  # warm-up
    latencies, recalls = [], []
    for query, truth in zip(queries, exact[: len(queries)], strict=True):
        started = time.perf_counter()
        found = search(query)
        latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(recall(found, truth))
    return Result(name, latencies, recalls)


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
    results[2].note = scans_of(vector_queryset(sample.part_id, sample.vector)[:TOP_K], HNSW_EF_SEARCH)
    results[4].note = scans_of(global_queryset(sample.vector), 40)
    results[5].note = scans_of(global_queryset(sample.vector), 100)
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
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool, bench_database(args.keep):
        print("\n".join(machine_lines()), flush=True)
        loaded = 0
        for size in sizes:
            timings = load_chunks(loaded, size, pool)
            loaded = size
            print(f"\n{size} chunks: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()) + f"; {table_sizes()}")
            for result in bench_size(size, make_queries(args.queries, size, seed=size)):
                print(result.line(), flush=True)
    print(f"\ntotal run time {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
