"""Shared bench helpers: the machine description, a throwaway database on the configured server, and
the bulk load of generated chunks and the plans of the vector ranking (the retrieval benches)."""

from __future__ import annotations

import math
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing.pool import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbili_site.settings")
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return f"{cpu}, {os.cpu_count()} cores{memory}, Python {platform.python_version()}, {platform.system()}"


@contextmanager
def bench_database(name: str = "bench_chatbili", *, keep: bool = False, reuse: bool = False) -> Iterator[None]:
    """Create a fresh migrated database (like the test runner does; `reuse`: keep the one there is),
    drop it afterwards unless `keep`."""
    from django.db import connection

    connection.settings_dict["TEST"]["NAME"] = name
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=reuse)
    try:
        yield
    finally:
        connection.close_pool()
        if keep:
            connection.close()
            connection.settings_dict["NAME"] = old_name
        else:
            connection.creation.destroy_test_db(old_name, verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a bench server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"nothing listens on port {port}")


def start_fake_openai(port: int, **knobs: object) -> subprocess.Popen:
    """The fake OpenAI-compatible server (tests/fakes/openai.py) in its own process."""
    arguments = ", ".join(f"{name}={value!r}" for name, value in knobs.items())
    code = (
        "import uvicorn; from tests.fakes.openai import FakeOpenAI; "
        f"uvicorn.run(FakeOpenAI({arguments}).app, host='127.0.0.1', port={port}, log_level='warning')"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    wait_for_port(port, process)
    return process


def start_daphne(port: int, env: dict) -> subprocess.Popen:
    """A real daphne (listen backlog 1024, for bursts of connections) serving the site."""
    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog=1024"
    command = [sys.executable, "-m", "daphne", "-e", endpoint, "chatbili_site.asgi:application"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    wait_for_port(port, process)
    return process


def database_url() -> str:
    """DATABASE_URL of the current (bench) database, for the processes a bench starts."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}"


# --- Measuring searches: latency and recall against the exact answer (retrieval benches) ---------


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
        return f"  {self.name:<52} {figures}  {self.note}"


def recall(found: Sequence[int], exact: Sequence[int]) -> float:
    return len(set(found) & set(exact)) / len(exact) if exact else 1.0


def measure[Query](
    name: str, queries: Sequence[Query], search: Callable[[Query], list[int]], exact: Sequence[list[int]]
) -> Result:
    """`search` timed on each query (after one warm-up), with its recall against the exact answer."""
    search(queries[0])
    latencies, recalls = [], []
    for query, truth in zip(queries, exact[: len(queries)], strict=True):
        started = time.perf_counter()
        found = search(query)
        latencies.append((time.perf_counter() - started) * 1000)
        recalls.append(recall(found, truth))
    return Result(name, latencies, recalls)


# --- Generated chunks: bulk load, and the plan of the site's vector ranking (retrieval benches) ---

CHUNKS_PER_PART = 200
LOAD_BATCH = 5000  # chunks a COPY
# Topic words of the generated chunk text.
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
# (part number, ordinal, text, keyword terms, binary vector) of one generated chunk.
ChunkRow = tuple[int, int, str, str, bytes]
# A bench's generated chunk `index`: its text and vector (a module-level function: it runs in the pool).
ChunkContent = Callable[[int], tuple[str, Sequence[float]]]


def _generate_rows(chunk_content: ChunkContent, indexes: range) -> list[ChunkRow]:
    """The rows of chunks `indexes`: chunk `index` is ordinal `index % CHUNKS_PER_PART` of part
    `index // CHUNKS_PER_PART`."""
    from videos.search_text import search_terms

    rows = []
    for index in indexes:
        text, vector = chunk_content(index)
        rows.append((index // CHUNKS_PER_PART, index % CHUNKS_PER_PART, text, search_terms(text), vector_bytes(vector)))
    return rows


def vector_bytes(vector: Sequence[float]) -> bytes:
    """pgvector's binary format: dimensions, a reserved zero, then big-endian float4s."""
    values = array("f", vector)
    if sys.byteorder == "little":
        values.byteswap()
    return struct.pack(">HH", len(values), 0) + values.tobytes()


def load_chunks(chunks: range, chunk_content: ChunkContent, part_ids: dict[int, int], pool: Pool) -> dict[str, float]:
    """Store generated chunks `chunks` (part number → VideoPart id in `part_ids`) with the chunk indexes
    dropped: rows made in the pool from `chunk_content`, COPYed in batches of LOAD_BATCH; then the model's
    HNSW and GIN indexes rebuilt and the database vacuumed and analyzed. The seconds each step took."""
    from django.db import connection, transaction

    from videos.embeddings import embedding_space

    timings: dict[str, float] = {}
    started = time.perf_counter()
    _execute_all(_chunk_index_sql(drop=True))
    space = embedding_space()
    batches = [chunks[offset : offset + LOAD_BATCH] for offset in range(0, len(chunks), LOAD_BATCH)]
    for rows in pool.imap(partial(_generate_rows, chunk_content), batches):
        with transaction.atomic():
            _copy_chunks(rows, part_ids, space)
    timings["generate+COPY"] = time.perf_counter() - started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET maintenance_work_mem = '3GB'")
        cursor.execute("SET max_parallel_maintenance_workers = 1")
    _execute_all(_chunk_index_sql(drop=False))
    timings["index build (HNSW+GIN)"] = time.perf_counter() - started
    started = time.perf_counter()
    _execute_all(["VACUUM ANALYZE"])
    timings["vacuum analyze"] = time.perf_counter() - started
    return timings


def _chunk_index_sql(drop: bool) -> list[str]:
    """The model's own index definitions (HNSW and GIN), to drop before and build after a load."""
    from django.db import connection

    from videos.models import Chunk

    with connection.schema_editor(collect_sql=True) as editor:
        for index in Chunk._meta.indexes:
            editor.execute(index.remove_sql(Chunk, editor) if drop else index.create_sql(Chunk, editor))
    return editor.collected_sql


def _execute_all(statements: Sequence[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def _copy_chunks(rows: Sequence[ChunkRow], part_ids: dict[int, int], space: str) -> None:
    """COPY the chunks in binary, then fill search_vector from the terms in one UPDATE."""
    from django.db import connection

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


def plan_scans(sql: str, params: Sequence[object]) -> str:
    """The scan nodes of the plan PostgreSQL picks for the statement, under this transaction's settings."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    return "plan: " + "; ".join(line.strip().removeprefix("->  ").split("  (")[0] for line in plan if "Scan" in line)


def vector_ranking_plan(part_id: int | Sequence[int], vector: Sequence[float], limit: int) -> str:
    """`plan_scans` of the site's own vector ranking over the part (or parts): its statement, its settings."""
    from django.db import transaction

    from chat.retrieval import tune_vector_search, vector_ranking_sql

    with transaction.atomic():
        tune_vector_search(part_id)
        return plan_scans(*vector_ranking_sql(part_id=part_id, vector=vector, limit=limit))
