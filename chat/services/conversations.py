"""Writes of chat: a question and its streaming answer begin together; the answer is finished once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from chat.errors import ANSWER_IN_PROGRESS, CONVERSATION_NOT_FOUND, EMPTY_QUESTION, SERVER_RESTARTED
from chat.models import Conversation, Message
from chat.selectors import conversation_get_for_user
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


@transaction.atomic
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
    if conversation_id is None:  # nobody else knows it yet: no lock, nothing in flight (issue 12)
        conversation = Conversation.objects.create(
            user=user, scope=scope, part_id=part_id, collection_id=collection_id, title=question[:60]
        )
    else:
        conversation = conversation_get_for_user(user=user, conversation_id=conversation_id)
        if (conversation.scope, conversation.part_id, conversation.collection_id) != (scope, part_id, collection_id):
            raise AppError(CONVERSATION_NOT_FOUND)
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        _refuse_if_answering(conversation)
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=timezone.now())
    asked, answer = Message.objects.bulk_create(
        [
            Message(conversation=conversation, role=Message.Role.USER, content=question),
            Message(conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING),
        ]
    )
    return AnswerStart(conversation, asked, answer, new_conversation=conversation_id is None)


def _refuse_if_answering(conversation: Conversation) -> None:
    streaming = conversation.messages.filter(status=Message.Status.STREAMING)
    stale = streaming.filter(updated_at__lt=timezone.now() - STALE_STREAMING_AFTER)
    stale.update(status=Message.Status.INTERRUPTED, error_code=SERVER_RESTARTED.code, error_params={})
    if streaming.exists():
        raise AppError(ANSWER_IN_PROGRESS)


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
) -> None:
    """Save the answer as it ended: complete, interrupted or failed (with why, as code + params)."""
    Message.objects.filter(pk=message_id).update(
        content=content,
        status=status,
        citations=citations or [],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        error_code=error.code if error else "",
        error_params=error.params if error else {},
        offline=offline,
        updated_at=timezone.now(),
    )
