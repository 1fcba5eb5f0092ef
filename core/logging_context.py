"""A request/task id on every log line, and the JSON log format.

`CURRENT_ID` holds the id of what the running code serves: an HTTP request (set by
`chatbili_site.observability.RequestObservabilityMiddleware`, which takes a valid `X-Request-ID`
from the proxy or makes one), a websocket (set per socket by `WebsocketObservability`), a
background task (set from Django's task signals below, `task-<task id>`). It is a contextvar, so
asyncio tasks and `sync_to_async` threads started while serving inherit it. `RequestIdFilter` puts
it on each record as `request_id` ("-" outside any); settings.LOGGING adds the filter to the
console handler, and `JsonFormatter` writes one JSON object per line (LOG_FORMAT=json).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.tasks.signals import task_finished, task_started

CURRENT_ID: ContextVar[str] = ContextVar("chatbili_request_id", default="-")
# An id from outside (a proxy's X-Request-ID) is taken only when it looks like one: no log injection.
VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def id_from_header(value: str | None) -> str:
    """The proxy's id when it is a plain token, else a new one."""
    return value if value and VALID_ID.match(value) else new_id()


@contextlib.contextmanager
def id_bound(value: str) -> Iterator[str]:
    """Run the block with `value` as the current id."""
    token = CURRENT_ID.set(value)
    try:
        yield value
    finally:
        CURRENT_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds `record.request_id` (the current id, "-" outside a request, socket or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = CURRENT_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", CURRENT_ID.get()),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _task_started(sender: Any, task_result: Any, **kwargs: Any) -> None:
    """A worker starts a task: its log lines carry `task-<id>` (the worker runs one task at a time)."""
    CURRENT_ID.set(f"task-{task_result.id}")


def _task_finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
    CURRENT_ID.set("-")


task_started.connect(_task_started, dispatch_uid="chatbili_task_log_id_start")
task_finished.connect(_task_finished, dispatch_uid="chatbili_task_log_id_end")
