"""Request ids on log lines and responses, and the JSON log format."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from django.test.utils import override_settings

from core.logging_context import CURRENT_ID, JsonFormatter, RequestIdFilter, id_bound

pytestmark = pytest.mark.django_db


def format_line(formatter: logging.Formatter, message: str, **extra: object) -> str:
    record = logging.LogRecord("chat.llm", logging.WARNING, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    RequestIdFilter().filter(record)
    return formatter.format(record)


def test_a_response_returns_the_proxys_request_id() -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="abc123def")
    assert response["X-Request-ID"] == "abc123def"


def test_an_unsafe_request_id_is_replaced() -> None:
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="evil\nline")
    assert len(response["X-Request-ID"]) == 16 and response["X-Request-ID"].isalnum()


def test_two_requests_get_different_ids() -> None:
    first, second = Client().get("/healthz"), Client().get("/healthz")
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_the_id_is_unset_after_the_request() -> None:
    Client().get("/healthz", HTTP_X_REQUEST_ID="abc123def")
    assert CURRENT_ID.get() == "-"


def test_a_text_line_carries_the_current_id() -> None:
    formatter = logging.Formatter("%(levelname)s [%(request_id)s] %(name)s: %(message)s")
    with id_bound("req-42"):
        line = format_line(formatter, "slow answer")
    assert line == "WARNING [req-42] chat.llm: slow answer"


def test_a_json_line_is_one_object_with_the_id_and_extras() -> None:
    with id_bound("ws-7"):
        line = format_line(JsonFormatter(), "结束", part_id=3)
    entry = json.loads(line)
    del entry["time"]
    assert entry == {"level": "WARNING", "logger": "chat.llm", "request_id": "ws-7", "message": "结束", "part_id": 3}


def test_log_lines_of_a_view_carry_its_request_id(caplog) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    with override_settings(DEBUG=False), caplog.at_level(logging.WARNING, logger="django.request"):
        Client().get("/no-such-page/", HTTP_X_REQUEST_ID="page-miss-1")
    assert [record.request_id for record in caplog.records if record.name == "django.request"] == ["page-miss-1"]


@pytest.mark.django_db(transaction=True)
def test_log_lines_of_a_task_carry_its_task_id(caplog) -> None:
    from django.core.management import call_command

    from videos.tasks import ingest_part_task

    result = ingest_part_task.enqueue(987654)  # no such part: the task logs that it cannot claim it
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO, logger="videos.ingest"):
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    ids = [record.request_id for record in caplog.records if record.name == "videos.ingest"]
    assert (ids, CURRENT_ID.get()) == ([f"task-{result.id}"], "-")
