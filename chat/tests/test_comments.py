"""Comment drafts: three drafts in a tone, grounded in the summary and the highlights, never posted."""

from __future__ import annotations

import re
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from chat.comments import comment_drafts_stream, drafts_from_text, normalize_tone
from chat.models import CommentDraftSet, UsageRecord
from chat.summaries import summary_stream
from chat.tests.test_summaries import SUMMARY_REPLY, collect, cue_lines, make_part, text_of
from chat.timestamps import format_timestamp
from core.errors import AppError
from tests.fakes.openai import FakeOpenAI, fake_tokens

DRAFTS_REPLY = "1. [00:24] 这里讲得太清楚了\n2. 量子计算原来这么有意思 [59:00]\n3. 求UP主多讲讲量子纠缠！\n"
DANMAKU = {
    "bucket_seconds": 10,
    "counts": [1, 1, 1, 1, 1, 1, 1, 40, 1, 1, 1, 1],
    "top_texts": [[["好", 1]]] * 7 + [[["前方高能", 35]]] + [[["好", 1]]] * 4,
    "total": 51,
}


def reply(body: dict) -> str:
    return DRAFTS_REPLY if "评论草稿" in body["messages"][0]["content"] else SUMMARY_REPLY


LLM_REPLY = reply


@pytest.mark.parametrize(
    ("text", "drafts"),
    [
        ("1. 一\n2. 二\n3. 三", ["一", "二", "三"]),
        ("好的，以下是草稿：\n1、一\n2）二\n- 三\n4. 四", ["一", "二", "三"]),
        ("1.\n2. 二", ["二"]),
        ("没有编号", []),
    ],
)
def test_drafts_from_text(text: str, drafts: list[str]) -> None:
    assert drafts_from_text(text) == drafts


def test_tones_and_their_english_names() -> None:
    assert normalize_tone("幽默") == "幽默"
    assert normalize_tone(" Funny ") == "幽默"
    assert normalize_tone("question") == "提问"
    with pytest.raises(AppError) as caught:
        normalize_tone("阴阳怪气")
    assert caught.value.code == "bad_tone"


@pytest.mark.django_db(transaction=True)
async def test_drafts_are_grounded_in_the_summary_and_highlights(llm: FakeOpenAI) -> None:
    part = await sync_to_async(make_part)(cue_lines(20), danmaku=DANMAKU)
    user = await User.objects.acreate(username="commenter")
    summary_events = await collect(summary_stream(part, "zh", user))

    events = await collect(comment_drafts_stream(part, tone="幽默", user=user))

    assert events[0] == {"type": "start", "tone": "幽默", "offline": False, "model": "fake-chat"}
    assert len(llm.text_requests) == 2  # the summary was cached: only the drafts were asked for
    request = llm.requests[-1].body
    assert "幽默" in request["messages"][0]["content"]
    prompt = request["messages"][1]["content"]
    assert summary_events[-1]["summary"]["content"].strip() in prompt
    assert "[01:10] 42 条弹幕：前方高能" in prompt
    done = events[-1]
    # Moments as Bilibili comments write them (plain mm:ss); the made-up 59:00 is dropped.
    assert done["drafts"] == ["00:24 这里讲得太清楚了", "量子计算原来这么有意思", "求UP主多讲讲量子纠缠！"]
    assert text_of(events) == "1. 00:24 这里讲得太清楚了\n2. 量子计算原来这么有意思\n3. 求UP主多讲讲量子纠缠！\n"
    saved = await CommentDraftSet.objects.aget()
    assert (saved.user_id, saved.tone, saved.drafts, saved.offline) == (user.pk, "幽默", done["drafts"], False)
    assert saved.summary_id == summary_events[-1]["summary"]["id"]
    assert done["comment_set"] == saved.to_dict()
    assert await UsageRecord.objects.filter(purpose="comments", user=user).acount() == 1


@pytest.mark.django_db(transaction=True)
async def test_the_summary_is_made_first_when_there_is_none(llm: FakeOpenAI) -> None:
    part = await sync_to_async(make_part)(cue_lines(20))
    events = await collect(comment_drafts_stream(part.pk, tone="serious"))
    assert {"type": "progress", "stage": "summary"} in events
    assert [("评论草稿" in r.body["messages"][0]["content"]) for r in llm.text_requests] == [False, True]
    assert len(events[-1]["drafts"]) == 3


@pytest.mark.django_db(transaction=True)
async def test_a_failure_mid_stream_reports_the_partial_drafts(llm: FakeOpenAI) -> None:
    part = await sync_to_async(make_part)(cue_lines(20))
    await collect(summary_stream(part, "zh", None))
    llm.disconnect_after_tokens = 6
    events = await collect(comment_drafts_stream(part, tone="提问"))
    assert events[-1]["type"] == "error"
    assert events[-1]["status"] == "interrupted"
    assert events[-1]["content"] == "".join(fake_tokens(DRAFTS_REPLY)[:6])
    assert await CommentDraftSet.objects.acount() == 0


@pytest.mark.django_db(transaction=True)
async def test_offline_drafts_come_from_highlights_and_key_sentences(settings: Any) -> None:
    settings.OPENAI_API_KEY = ""
    part = await sync_to_async(make_part)(cue_lines(40), danmaku=DANMAKU)
    events = await collect(comment_drafts_stream(part, tone="认真"))

    assert events[0]["offline"] is True
    done = events[-1]
    assert len(done["drafts"]) == 3
    assert any("前方高能" in draft for draft in done["drafts"])
    # The danmaku peak (1:10) is referenced at the start of the line it falls in (1:06-1:11).
    stamps = set(re.findall(r"\d\d:\d\d", " ".join(done["drafts"])))
    assert "01:06" in stamps and stamps <= {format_timestamp(cue.start_ms).strip("[]") for cue in cue_lines(40)}
    assert not re.search(r"[\[【]\d", " ".join(done["drafts"]))
    assert text_of(events) == "".join(f"{n}. {draft}\n" for n, draft in enumerate(done["drafts"], start=1))
    assert done["comment_set"]["offline"] is True and done["comment_set"]["model"] == "offline-extractive"
    assert await UsageRecord.objects.acount() == 0
