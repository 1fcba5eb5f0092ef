"""While PostgreSQL cannot be reached: 503 `database_unavailable` with Retry-After, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import psycopg.errors
import psycopg_pool
import pytest
from django.core.handlers.exception import convert_exception_to_response
from django.db import OperationalError as DjangoOperationalError
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from chatbili_site import outage


@pytest.fixture(autouse=True)
def _database_up() -> Iterator[None]:
    outage._down_since = None
    yield
    outage._down_since = None


def wrapped(cause: Exception) -> DjangoOperationalError:
    """A database error as Django raises it: its own class, the driver's error as the cause."""
    try:
        raise DjangoOperationalError(str(cause)) from cause
    except DjangoOperationalError as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("connection refused"),
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg_pool.PoolTimeout("couldn't get a connection after 30.00 sec"),
        wrapped(psycopg.errors.AdminShutdown("terminating connection due to unexpected postmaster exit")),
    ],
)
def test_a_lost_or_refused_connection_is_an_outage(error: Exception) -> None:
    assert outage.is_database_outage(error) is True


@pytest.mark.parametrize(
    "error",
    [psycopg.errors.DeadlockDetected("deadlock detected"), wrapped(psycopg.errors.QueryCanceled()), ValueError()],
)
def test_other_errors_are_not_an_outage(error: Exception) -> None:
    assert outage.is_database_outage(error) is False


def test_the_api_answers_503_database_unavailable_with_retry_after() -> None:
    response = outage.outage_response(RequestFactory().get("/api/v1/tokens", HTTP_ACCEPT_LANGUAGE="en"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert json.loads(response.content) == {
        "error": {
            "code": "database_unavailable",
            "message": "The database is temporarily unavailable and recovering by itself; please retry in 5 s",
            "details": {"retry_after": 5},
        }
    }


def test_a_page_answers_a_friendly_503_in_the_visitors_language() -> None:
    response = outage.outage_response(RequestFactory().get("/", HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "数据库暂时不可用，正在自动恢复，请 5 秒后重试" in response.content.decode()


def failing_view(request: HttpRequest) -> HttpResponse:
    raise wrapped(psycopg.OperationalError("connection to server failed: Connection refused"))


def test_a_view_failing_on_the_lost_database_becomes_the_503_page() -> None:
    middleware = outage.DatabaseOutageMiddleware(convert_exception_to_response(failing_view))
    response = middleware(RequestFactory().get("/videos/BV117411r7R1/1/"))
    assert response.status_code == 503


@pytest.mark.django_db
def test_once_the_database_answers_again_requests_go_through() -> None:
    outage.mark_down()
    assert outage.database_down() is False  # the probe reaches the (running) test database
