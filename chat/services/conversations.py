"""Writes of chat: a question and its streaming answer begin together; the answer is finished once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from chat.errors import ANSWER_IN_PROGRESS, CONVERSATION_NOT_FOUND, EMPTY_QUESTION, SERVER_RESTARTED
from chat.models import Conversation, Message
from chat.services.quotas import RELEASE_SQL, release_params
from core.errors import AppError
from videos.models import VideoPart

# A message still "streaming" after this long belongs to a server that died.
STALE_STREAMING_AFTER = timedelta(minutes=5)


@dataclass
class AnswerStart:
    conversation: Conversation
    question: Message
    answer: Message
    new_conversation: bool = False  # made for this question: nothing earlier to read


def answer_begin(
    *,
    user: Any,
    part: VideoPart | None,
    question: str,
    conversation_id: int | None,
    scope: str = Conversation.Scope.PART,
    collection_id: int | None = None,
) -> AnswerStart:
    """Save the question and an empty streaming answer; refuse a second answer in flight.

    A conversation is about one part (scope "part"), a collection ("collection") or the user's
    library ("library"); an existing one must be the user's and about the same thing.
    """
    question = question.strip()
    if not question:
        raise AppError(EMPTY_QUESTION)
    part_id = part.pk if part is not None else None
    target = {"scope": str(scope), "part_id": part_id, "collection_id": collection_id}
    if conversation_id is None:  # nobody else knows it yet: no lock, nothing in flight (issue 12)
        return _new_conversation_begin(user=user, question=question, **target)
    return _next_question_begin(user=user, question=question, conversation_id=conversation_id, **target)


# A question's messages: the question, then the empty streaming answer, in one statement with the
# conversation they go to (its insert, or its update). The answer's insert reads the question's, so
# the question's id is the lower (messages are read in order of created_at, then id).
_MESSAGES = Message._meta.db_table
_CONVERSATIONS = Conversation._meta.db_table
_MESSAGE_COLUMNS = (
    "conversation_id, role, content, citations, prompt_tokens, completion_tokens, status, error_code, error_params,"
    " offline, created_at, updated_at"
)
_MESSAGES_SQL = f"""
question AS (
    INSERT INTO {_MESSAGES} ({_MESSAGE_COLUMNS})
    SELECT id, %(user)s, %(question)s, '[]', 0, 0, %(complete)s, '', '{{}}', false, %(now)s, %(now)s FROM conversation
    RETURNING id, conversation_id
), answer AS (
    INSERT INTO {_MESSAGES} ({_MESSAGE_COLUMNS})
    SELECT conversation_id, %(assistant)s, '', '[]', 0, 0, %(streaming)s, '', '{{}}', false, %(now)s, %(now)s
    FROM question
    RETURNING id
)
SELECT question.conversation_id, question.id, answer.id FROM question CROSS JOIN answer
"""  # noqa: S608 - table names from the models; values are parameters
_NEW_CONVERSATION_SQL = f"""
WITH conversation AS (
    INSERT INTO {_CONVERSATIONS} (user_id, scope, part_id, collection_id, title, created_at, updated_at)
    VALUES (%(user_id)s, %(scope)s, %(part_id)s, %(collection_id)s, %(title)s, %(now)s, %(now)s)
    RETURNING id
), {_MESSAGES_SQL}"""  # noqa: S608
_NEXT_QUESTION_SQL = f"""
WITH conversation AS (
    UPDATE {_CONVERSATIONS} SET updated_at = %(now)s WHERE id = %(conversation_id)s RETURNING id
), {_MESSAGES_SQL}"""  # noqa: S608
# The user's conversation, locked: one question at a time reads what is in flight.
_LOCK_CONVERSATION_SQL = f"""
SELECT scope, part_id, collection_id, title, created_at FROM {_CONVERSATIONS}
WHERE id = %s AND user_id = %s FOR UPDATE
"""  # noqa: S608
# Answers left streaming by a dead server become interrupted; is another answer still streaming?
# (The SELECT sees the rows as before the UPDATE, hence its own test of age.)
_ANSWERING_SQL = f"""
WITH stale AS (
    UPDATE {_MESSAGES} SET status = %(interrupted)s, error_code = %(restarted)s, error_params = '{{}}'
    WHERE conversation_id = %(conversation_id)s AND status = %(streaming)s AND updated_at < %(stale_before)s
)
SELECT EXISTS (
    SELECT 1 FROM {_MESSAGES}
    WHERE conversation_id = %(conversation_id)s AND status = %(streaming)s AND updated_at >= %(stale_before)s
)
"""  # noqa: S608


def _new_conversation_begin(
    *, user: Any, scope: str, part_id: int | None, collection_id: int | None, question: str
) -> AnswerStart:
    fields = {"scope": scope, "part_id": part_id, "collection_id": collection_id, "title": question[:60]}
    params = _messages_params(question, user_id=user.pk, **fields)
    with connection.cursor() as cursor:
        cursor.execute(_NEW_CONVERSATION_SQL, params)
        conversation_id, question_id, answer_id = cursor.fetchone()
    now = params["now"]
    conversation = _saved(Conversation, id=conversation_id, user_id=user.pk, created_at=now, updated_at=now, **fields)
    return _start(conversation, question, question_id, answer_id, new_conversation=True)


@transaction.atomic
def _next_question_begin(
    *, user: Any, conversation_id: int, scope: str, part_id: int | None, collection_id: int | None, question: str
) -> AnswerStart:
    """Lock the user's conversation (anyone else's looks missing), refuse if an answer is in flight, save."""
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_CONVERSATION_SQL, [conversation_id, user.pk])
        row = cursor.fetchone()
        if row is None or tuple(row[:3]) != (scope, part_id, collection_id):
            raise AppError(CONVERSATION_NOT_FOUND)
        params = _messages_params(question, user_id=user.pk, conversation_id=conversation_id)
        cursor.execute(_ANSWERING_SQL, {**params, "stale_before": params["now"] - STALE_STREAMING_AFTER})
        if cursor.fetchone()[0]:
            raise AppError(ANSWER_IN_PROGRESS)
        cursor.execute(_NEXT_QUESTION_SQL, params)
        _, question_id, answer_id = cursor.fetchone()
    fields = dict(zip(("scope", "part_id", "collection_id", "title", "created_at"), row, strict=True))
    conversation = _saved(Conversation, id=conversation_id, user_id=user.pk, updated_at=params["now"], **fields)
    return _start(conversation, question, question_id, answer_id)


def _messages_params(question: str, **values: Any) -> dict[str, Any]:
    return {
        **values,
        "now": timezone.now(),
        "question": question,
        "user": str(Message.Role.USER),
        "assistant": str(Message.Role.ASSISTANT),
        "complete": str(Message.Status.COMPLETE),
        "streaming": str(Message.Status.STREAMING),
        "interrupted": str(Message.Status.INTERRUPTED),
        "restarted": SERVER_RESTARTED.code,
    }


def _start(
    conversation: Conversation, question: str, question_id: int, answer_id: int, *, new_conversation: bool = False
) -> AnswerStart:
    times = {"conversation": conversation, "created_at": conversation.updated_at, "updated_at": conversation.updated_at}
    asked = _saved(Message, id=question_id, role=Message.Role.USER, content=question, **times)
    answer = _saved(Message, id=answer_id, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, **times)
    return AnswerStart(conversation, asked, answer, new_conversation=new_conversation)


def _saved[Model: models.Model](model: type[Model], **values: Any) -> Model:
    """An instance of a row just written with SQL, as the ORM would have returned it."""
    instance = model(**values)
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


# The answer as it ended; with its reservation's release (chat.services.quotas) in the same
# statement when the gate handed the reservation to the answer: one trip for the answer's end.
_FINISH_SQL = f"""
UPDATE {_MESSAGES} SET content = %s, status = %s, citations = %s, prompt_tokens = %s, completion_tokens = %s,
    error_code = %s, error_params = %s, offline = %s, updated_at = %s
WHERE id = %s
"""  # noqa: S608 - table names from the models; values are parameters
_FINISH_AND_RELEASE_SQL = f"WITH finished AS ({_FINISH_SQL}) {RELEASE_SQL}"


def answer_finish(
    *,
    message_id: int,
    content: str,
    status: str,
    citations: list[dict] | None = None,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    error: AppError | None = None,
    offline: bool = False,
    reservation_id: int | None = None,
) -> None:
    """Save the answer as it ended: complete, interrupted or failed (with why, as code + params).
    With `reservation_id`, release that quota reservation too (as chat.services.quotas.quota_release)."""
    now = timezone.now()
    as_json = connection.ops.adapt_json_value
    params = [
        content,
        str(status),
        as_json(citations or [], None),
        prompt_tokens,
        completion_tokens,
        error.code if error else "",
        as_json(error.params if error else {}, None),
        offline,
        now,
        message_id,
    ]
    with connection.cursor() as cursor:
        if reservation_id is None:
            cursor.execute(_FINISH_SQL, params)
        else:
            cursor.execute(_FINISH_AND_RELEASE_SQL, [*params, *release_params(reservation_id, now)])
