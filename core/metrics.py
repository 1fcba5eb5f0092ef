"""Prometheus metrics (prometheus_client), recorded by every layer and exposed at /metrics.

Each process records into prometheus_client's metrics below; `chatbili_site.metrics_view` renders
them. With several processes (`runsite --servers N --workers M`, systemd units, compose) one
process's memory would show only its own numbers, so prometheus_client's **multiprocess mode**
is used whenever PROMETHEUS_MULTIPROC_DIR is set: each process writes its values to mmap files in
that directory and /metrics sums the files of every process, live or exited (counters and
histograms only; no gauges, whose multiprocess modes need dead processes marked). `runsite` sets
the directory for its children and empties it at each start; systemd units and compose set it
themselves (see README "Deploy"). The variable must be set before the process starts: this
module chooses the mode when it is first imported. Files are named per host and process id, so
containers may share one directory.

Names and labels (labels are bounded: a view name, a stage, an error kind, never a user or a URL):

    chatbili_http_requests_total{method,view,status}       chatbili_http_request_duration_seconds{method,view}
    chatbili_websocket_connections_opened_total{route}     chatbili_websocket_connections_closed_total{route}
    chatbili_websocket_frames_total{direction,type}        chatbili_websocket_connection_duration_seconds{route}
    chatbili_websocket_stream_duration_seconds{stream,outcome}
    chatbili_websocket_first_token_seconds{stream}
    chatbili_llm_calls_total{purpose,model,status}         chatbili_llm_call_duration_seconds{purpose,model}
    chatbili_llm_tokens_total{purpose,model,kind}          chatbili_llm_errors_total{purpose,model,kind}
    chatbili_ingest_stage_duration_seconds{stage}          chatbili_ingest_parts_total{outcome}
    chatbili_quota_rejections_total{code}
    chatbili_task_queue_depth{queue,status}  (read from the task table at scrape time)
"""

from __future__ import annotations

import functools
import os
import re
import socket
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from core.errors import AppError

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Codes the generation gate refuses with for quota or budget (chat.gate).
QUOTA_CODES = frozenset({"quota_exceeded", "site_budget_exhausted"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LONG_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def multiprocess_dir() -> str:
    """The shared directory of multiprocess mode, or "" in single-process mode."""
    return os.environ.get(MULTIPROC_DIR_VARIABLE, "")


def _process_identifier() -> str:
    """Host and pid: distinct across containers sharing the directory (no "_": it splits file names)."""
    return f"{socket.gethostname().replace('_', '-')}-{os.getpid()}"


if multiprocess_dir():
    os.makedirs(multiprocess_dir(), exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)

HTTP_REQUESTS = Counter("chatbili_http_requests", "HTTP requests answered", ["method", "view", "status"])
HTTP_SECONDS = Histogram(
    "chatbili_http_request_duration_seconds",
    "Time to a response's headers",
    ["method", "view"],
    buckets=LATENCY_BUCKETS,
)
WS_OPENED = Counter("chatbili_websocket_connections_opened", "Websocket connections opened", ["route"])
WS_CLOSED = Counter("chatbili_websocket_connections_closed", "Websocket connections closed", ["route"])
WS_FRAMES = Counter("chatbili_websocket_frames", "Websocket frames by direction and type", ["direction", "type"])
WS_SECONDS = Histogram(
    "chatbili_websocket_connection_duration_seconds", "How long sockets stay open", ["route"], buckets=LONG_BUCKETS
)
WS_STREAM_SECONDS = Histogram(
    "chatbili_websocket_stream_duration_seconds",
    "A socket's stream (summary, answer, comments) from its request to its end",
    ["stream", "outcome"],
    buckets=LONG_BUCKETS,
)
WS_FIRST_TOKEN_SECONDS = Histogram(
    "chatbili_websocket_first_token_seconds",
    "A socket's stream from its request to its first text frame",
    ["stream"],
    buckets=LATENCY_BUCKETS,
)
LLM_CALLS = Counter("chatbili_llm_calls", "LLM calls by outcome", ["purpose", "model", "status"])
LLM_SECONDS = Histogram(
    "chatbili_llm_call_duration_seconds", "LLM call duration", ["purpose", "model"], buckets=LONG_BUCKETS
)
LLM_TOKENS = Counter("chatbili_llm_tokens", "LLM tokens (prompt, completion)", ["purpose", "model", "kind"])
LLM_ERRORS = Counter("chatbili_llm_errors", "Failed or interrupted LLM calls by kind", ["purpose", "model", "kind"])
INGEST_STAGE_SECONDS = Histogram(
    "chatbili_ingest_stage_duration_seconds", "Time spent in each ingestion stage", ["stage"], buckets=LONG_BUCKETS
)
INGEST_PARTS = Counter("chatbili_ingest_parts", "Parts whose ingestion ended, by outcome", ["outcome"])
QUOTA_REJECTIONS = Counter("chatbili_quota_rejections", "Generations refused for quota or budget", ["code"])


def http_request_observe(*, method: str, view: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, view, str(status)).inc()
    HTTP_SECONDS.labels(method, view).observe(seconds)


def websocket_opened(route: str) -> None:
    WS_OPENED.labels(route).inc()


def websocket_closed(route: str, seconds: float) -> None:
    WS_CLOSED.labels(route).inc()
    WS_SECONDS.labels(route).observe(seconds)


# The frame counters by (direction, type), each looked up once: `labels()` costs more than the count
# itself, paid on every token frame (issue 12). Bounded: the callers' frame types are a fixed few.
_frame_counters: dict[tuple[str, str], Any] = {}


def websocket_frame(direction: str, frame_type: str) -> None:
    counter = _frame_counters.get((direction, frame_type))
    if counter is None:
        counter = _frame_counters[direction, frame_type] = WS_FRAMES.labels(direction, frame_type)
    counter.inc()


class StreamTimer:
    """Times one websocket stream: `first_token()` at its first text, `end(outcome)` once."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.first_seen = False

    def first_token(self) -> None:
        if not self.first_seen:
            self.first_seen = True
            WS_FIRST_TOKEN_SECONDS.labels(self.stream).observe(time.monotonic() - self.started)

    def end(self, outcome: str) -> None:
        WS_STREAM_SECONDS.labels(self.stream, outcome).observe(time.monotonic() - self.started)


def llm_error_kind(error_text: str) -> str:
    """A bounded kind for a failed call's English error text (chat.llm): http_429, http_5xx, http_4xx,
    timeout, stream (a bad chunk or an error event mid-stream), stopped (cancelled), or connection."""
    lowered = error_text.lower()
    if status := re.search(r"\bhttp (\d{3})\b", lowered):
        code = int(status.group(1))
        return "http_429" if code == 429 else ("http_5xx" if code >= 500 else "http_4xx")
    if lowered.startswith("stopped"):
        return "stopped"
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout"
    if "stream" in lowered or "chunk" in lowered:
        return "stream"
    return "connection"


def llm_call_record(
    *, purpose: str, model: str, status: str, prompt_tokens: int, completion_tokens: int, seconds: float, error: str
) -> None:
    """One LLM call ended (status complete, interrupted or failed); `error` is its kind, "" when none."""
    LLM_CALLS.labels(purpose, model, status).inc()
    LLM_SECONDS.labels(purpose, model).observe(seconds)
    LLM_TOKENS.labels(purpose, model, "prompt").inc(prompt_tokens)
    LLM_TOKENS.labels(purpose, model, "completion").inc(completion_tokens)
    if error:
        LLM_ERRORS.labels(purpose, model, error).inc()


_stage_clocks: weakref.WeakKeyDictionary[Any, tuple[str, float]] = weakref.WeakKeyDictionary()


def ingest_stage_enter(pipeline: Any, stage: str) -> None:
    """The pipeline (any object) reached `stage`: the previous stage's time is recorded."""
    now = time.monotonic()
    current = _stage_clocks.get(pipeline)
    if current is not None and current[0] == stage:
        return
    if current is not None:
        INGEST_STAGE_SECONDS.labels(current[0]).observe(now - current[1])
    _stage_clocks[pipeline] = (stage, now)


def ingest_end(pipeline: Any, outcome: str) -> None:
    """The pipeline ended (ready or failed): its last stage's time and the outcome are recorded."""
    current = _stage_clocks.pop(pipeline, None)
    if current is not None:
        INGEST_STAGE_SECONDS.labels(current[0]).observe(time.monotonic() - current[1])
    INGEST_PARTS.labels(outcome).inc()


def quota_rejection(code: str) -> None:
    QUOTA_REJECTIONS.labels(code).inc()


def counts_quota_rejections[**P, R](function: Callable[P, R]) -> Callable[P, R]:
    """Decorator: a quota or budget AppError raised by `function` is counted, then raised on."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except AppError as exc:
            if exc.code in QUOTA_CODES:
                quota_rejection(exc.code)
            raise

    return wrapper


def multiprocess_environment(port: int) -> dict[str, str]:
    """For `runsite`'s children: PROMETHEUS_MULTIPROC_DIR (as set, else a directory per port under the
    temporary directory), emptied of an earlier run's files."""
    directory = Path(multiprocess_dir() or Path(tempfile.gettempdir()) / f"chatbili-metrics-{port}")
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.db"):
        old.unlink(missing_ok=True)
    return {MULTIPROC_DIR_VARIABLE: str(directory)}


def exposition(*extra: CollectorRegistry) -> bytes:
    """The text format of every process's metrics (multiprocess mode) or this one's, then `extra`."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    return text + b"".join(generate_latest(registry) for registry in extra)
