"""runsite's sweep: an answer whose server died mid-stream is marked interrupted, a live one is not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from chat.models import Conversation, Message
from chat.services.conversations import STALE_STREAMING_AFTER
from chatbili_site.supervisor_sweeps import stale_streams_interrupt

pytestmark = pytest.mark.django_db


def streaming_answer(conversation: Conversation, *, age: timedelta) -> Message:
    answer = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, content="先焯水"
    )
    Message.objects.filter(pk=answer.pk).update(updated_at=timezone.now() - age)
    return answer


def test_a_stale_streaming_answer_is_marked_interrupted_and_keeps_its_text() -> None:
    conversation = Conversation.objects.create(user=User.objects.create_user("alice"), scope="library")
    dead = streaming_answer(conversation, age=STALE_STREAMING_AFTER + timedelta(seconds=1))
    live = streaming_answer(conversation, age=timedelta(seconds=1))
    assert stale_streams_interrupt() == (1, 0)
    dead.refresh_from_db()
    live.refresh_from_db()
    assert (dead.status, dead.error_code, dead.content) == (Message.Status.INTERRUPTED, "server_restarted", "先焯水")
    assert live.status == Message.Status.STREAMING
