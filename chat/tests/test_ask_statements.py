"""A question costs few database statements (issue 12): every step of an ask on a new conversation,
and of a next question, counted exactly, from the part's lookup to the answer's end. Savepoints (the
test's transaction) are left out: in production each step is one transaction of its own (or one
statement, needing none)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.gate import AnswerOrder, _part_admitted
from chat.models import Conversation, Message, QuotaReservation, UsageRecord
from chat.retrieval import retrieve_chunks_by_vector
from chat.services.conversations import answer_begin, answer_finish
from chat.services.quotas import quota_release, quota_reserve
from tests.factories import ready_part
from videos.embeddings import offline_embedding
from videos.models import VideoPart

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


def test_admitting_an_ask_is_the_part_the_lock_and_the_reservation(alice: Any, part: VideoPart, settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-test"  # an LLM to call: the ask reserves a request

    statements = statements_of(
        lambda: _part_admitted(user=alice, bvid=part.video.bvid, page=part.page, order=AnswerOrder(QUESTION))
    )

    assert [statement.split()[0] for statement in statements] == ["SELECT", "SELECT", "WITH"], statements
    assert QuotaReservation.objects.filter(user=alice).count() == 1


def test_reserving_a_request_is_the_lock_then_the_check_with_the_insert(alice: Any) -> None:
    statements = statements_of(lambda: quota_reserve(user=alice, purpose=UsageRecord.Purpose.CHAT))

    assert [statement.split()[0] for statement in statements] == ["SELECT", "WITH"], statements
    assert statements[0].endswith("FOR UPDATE")
    assert QuotaReservation.objects.filter(user=alice).count() == 1


def test_releasing_a_request_is_one_delete(alice: Any) -> None:
    reservation = quota_reserve(user=alice, purpose=UsageRecord.Purpose.CHAT)

    statements = statements_of(lambda: quota_release(reservation_id=reservation))

    assert [statement.split()[0] for statement in statements] == ["DELETE"], statements


def test_a_new_conversation_begins_with_one_statement(alice: Any, part: VideoPart) -> None:
    statements = statements_of(lambda: answer_begin(user=alice, part=part, question=QUESTION, conversation_id=None))

    assert [statement.split()[0] for statement in statements] == ["WITH"], statements


def test_a_new_conversation_saves_the_question_then_the_streaming_answer(alice: Any, part: VideoPart) -> None:
    start = answer_begin(user=alice, part=part, question=f" {QUESTION} ", conversation_id=None)

    assert list(Message.objects.order_by("created_at", "id").values_list("id", "role", "content", "status")) == [
        (start.question.pk, Message.Role.USER, QUESTION, Message.Status.COMPLETE),
        (start.answer.pk, Message.Role.ASSISTANT, "", Message.Status.STREAMING),
    ]
    assert list(Conversation.objects.values_list("id", "user_id", "scope", "part_id", "title")) == [
        (start.conversation.pk, alice.pk, Conversation.Scope.PART, part.pk, QUESTION)
    ]


def test_a_next_question_is_the_lock_the_check_and_one_statement(alice: Any, part: VideoPart) -> None:
    first = answer_begin(user=alice, part=part, question=QUESTION, conversation_id=None)
    answer_finish(message_id=first.answer.pk, content="好", status=Message.Status.COMPLETE)

    statements = statements_of(
        lambda: answer_begin(user=alice, part=part, question=QUESTION, conversation_id=first.conversation.pk)
    )

    assert [statement.split()[0] for statement in statements] == ["SELECT", "WITH", "WITH"], statements
    assert statements[0].split()[-2:] == ["FOR", "UPDATE"]
    assert Message.objects.filter(conversation=first.conversation).count() == 4


def test_an_answers_end_with_its_reservation_is_one_statement(alice: Any, part: VideoPart) -> None:
    start = answer_begin(user=alice, part=part, question=QUESTION, conversation_id=None)
    reservation = quota_reserve(user=alice, purpose=UsageRecord.Purpose.CHAT)
    citations = [{"chunk_id": 1, "start_ms": 0, "end_ms": 1000, "label": "[00:00]"}]

    statements = statements_of(
        lambda: answer_finish(
            message_id=start.answer.pk,
            content="好",
            status=Message.Status.COMPLETE,
            citations=citations,
            prompt_tokens=12,
            completion_tokens=1,
            reservation_id=reservation,
        )
    )

    assert [statement.split()[0] for statement in statements] == ["WITH"], statements
    assert QuotaReservation.objects.count() == 0
    assert list(
        Message.objects.filter(pk=start.answer.pk).values_list("content", "status", "citations", "completion_tokens")
    ) == [("好", Message.Status.COMPLETE, citations, 1)]


def test_retrieval_takes_two_statements(part: VideoPart, settings: Any) -> None:
    vector = offline_embedding(QUESTION, settings.EMBEDDING_DIMENSIONS)

    statements = statements_of(lambda: retrieve_chunks_by_vector(part_id=part.pk, question=QUESTION, vector=vector))

    # both rankings, then the hits with their neighbours and cues (the HNSW settings come with the connection)
    assert len(statements) == 2, "\n".join(statement[:120] for statement in statements)
