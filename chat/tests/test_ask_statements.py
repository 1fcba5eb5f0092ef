"""A question costs few database statements before its first token (issue 12): every step of an
ask on a new conversation, counted exactly. Savepoints (the test's transaction) are left out: in
production each step is one transaction of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Message, UsageRecord
from chat.retrieval import retrieve_chunks_by_vector
from chat.services.conversations import answer_begin
from chat.services.quotas import quota_release, quota_reserve
from tests.factories import ready_part
from videos.embeddings import offline_embedding
from videos.models import VideoPart
from videos.selectors import part_get_or_404

pytestmark = pytest.mark.django_db
QUESTION = "红烧肉怎么做？"


@pytest.fixture
def alice() -> Any:
    return get_user_model().objects.create_user("alice")


@pytest.fixture
def part(settings: Any) -> VideoPart:
    settings.OPENAI_API_KEY = ""
    return async_to_sync(ready_part)()


def statements_of(call: Callable[[], Any]) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        call()
    sql = [query["sql"] for query in captured.captured_queries]
    return [statement for statement in sql if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_finding_the_part_is_one_statement(part: VideoPart) -> None:
    statements = statements_of(lambda: part_get_or_404(bvid=part.video.bvid, page=part.page))

    assert len(statements) == 1, "\n".join(statements)


def test_reserving_a_request_is_the_lock_the_check_and_the_insert(alice: Any) -> None:
    statements = statements_of(lambda: quota_reserve(user=alice, purpose=UsageRecord.Purpose.CHAT))

    assert [statement.split()[0] for statement in statements] == ["SELECT", "SELECT", "INSERT"], statements
    assert statements[0].endswith("FOR UPDATE")


def test_releasing_a_request_is_one_delete(alice: Any) -> None:
    reservation = quota_reserve(user=alice, purpose=UsageRecord.Purpose.CHAT)

    statements = statements_of(lambda: quota_release(reservation_id=reservation))

    assert [statement.split()[0] for statement in statements] == ["DELETE"], statements


def test_a_new_conversation_begins_with_two_inserts(alice: Any, part: VideoPart) -> None:
    statements = statements_of(lambda: answer_begin(user=alice, part=part, question=QUESTION, conversation_id=None))

    assert [statement.split()[0] for statement in statements] == ["INSERT", "INSERT"], statements
    assert list(Message.objects.values_list("role", "status")) == [
        (Message.Role.USER, Message.Status.COMPLETE),
        (Message.Role.ASSISTANT, Message.Status.STREAMING),
    ]


def test_retrieval_takes_five_statements(part: VideoPart, settings: Any) -> None:
    vector = offline_embedding(QUESTION, settings.EMBEDDING_DIMENSIONS)

    statements = statements_of(lambda: retrieve_chunks_by_vector(part_id=part.pk, question=QUESTION, vector=vector))

    # HNSW settings, the vector ranking, the keyword ranking, the hits with their neighbours, the cues
    assert len(statements) == 5, "\n".join(statement[:120] for statement in statements)
