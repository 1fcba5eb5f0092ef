"""Line-precise moments on a real-style transcript: a cooking video's AI subtitles (48 short lines,
no punctuation). Citations land on the line they quote, key points and section notes on real line
starts of their own passage, and a dropped time leaves clean text."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User

from chat.conversations import answer_stream
from chat.retrieval import cues_in_span
from chat.selectors import passages_from_cues, stored_cues
from chat.summaries import summary_stream
from chat.timestamps import TIMESTAMP_PATTERN, format_timestamp, parse_timestamp
from core.tokens import count_tokens
from tests.factories import ready_part
from tests.fakes.openai import FakeOpenAI
from videos.models import Chunk
from videos.types import Cue

pytestmark = pytest.mark.django_db(transaction=True)

# (start, end) in seconds and the line, as Bilibili's AI subtitles give them: short, unpunctuated.
COOKING_AI_SUBTITLES = [
    (0.4, 2.6, "哈喽大家好"),
    (2.6, 5.1, "欢迎回到我的频道"),
    (5.3, 8.0, "今天给大家做一道家常红烧肉"),
    (8.0, 10.9, "这道菜我做了十几年了"),
    (11.2, 13.8, "首先我们来准备食材"),
    (13.8, 16.7, "五花肉一斤半左右"),
    (16.9, 19.2, "一定要选肥瘦相间的"),
    (19.2, 21.5, "然后是冰糖一小把"),
    (21.8, 24.0, "姜一块葱两根"),
    (24.0, 26.6, "八角两个桂皮一小段"),
    (26.9, 29.1, "香叶三四片就够了"),
    (29.5, 32.3, "先把五花肉切成麻将块"),
    (32.3, 34.8, "大概三厘米见方"),
    (35.0, 37.6, "切好以后冷水下锅"),
    (37.6, 40.2, "加两片姜和一勺料酒"),
    (40.5, 43.0, "大火煮开撇去浮沫"),
    (43.0, 45.9, "焯水大概三分钟就可以捞出来了"),
    (46.2, 48.5, "捞出来用温水冲洗干净"),
    (48.5, 51.0, "千万不要用冷水冲"),
    (51.3, 54.0, "不然肉会变紧变柴"),
    (54.4, 56.8, "接下来是最关键的一步"),
    (56.8, 59.5, "炒糖色"),
    (59.9, 62.3, "锅里放一点点油"),
    (62.3, 64.9, "下冰糖小火慢慢炒"),
    (65.2, 67.6, "一直炒到冰糖全部融化"),
    (67.6, 70.4, "颜色变成枣红色冒小泡泡"),
    (70.8, 73.0, "这个时候马上下肉"),
    (73.0, 75.7, "动作要快不然糖就炒糊了"),
    (76.0, 78.4, "翻炒均匀让每块肉都上色"),
    (78.4, 81.1, "然后下葱姜八角桂皮香叶"),
    (81.5, 83.9, "炒出香味"),
    (83.9, 86.6, "沿着锅边淋一圈料酒"),
    (86.9, 89.2, "再加一勺生抽半勺老抽"),
    (89.2, 92.0, "老抽主要是上色的"),
    (92.4, 95.0, "然后倒入开水"),
    (95.0, 97.8, "水要一次加够没过肉块"),
    (98.1, 100.4, "中途加水的话肉就不香了"),
    (100.4, 103.2, "大火烧开以后转小火"),
    (103.6, 106.1, "盖上盖子炖一个小时"),
    (106.1, 108.9, "时间到了我们开盖看一下"),
    (109.3, 111.7, "肉已经炖得很软烂了"),
    (111.7, 114.4, "这时候开大火收汁"),
    (114.8, 117.2, "一边收一边翻动"),
    (117.2, 119.9, "汤汁浓稠挂在肉上就可以了"),
    (120.3, 122.6, "出锅前撒一点葱花"),
    (122.6, 125.4, "看这个颜色是不是特别诱人"),
    (125.8, 128.1, "好了今天的视频就到这里"),
    (128.1, 130.9, "喜欢的话记得一键三连"),
]
CUES = [Cue(round(start * 1000), round(end * 1000), text) for start, end, text in COOKING_AI_SUBTITLES]
CUE_STARTS = {cue.start_ms for cue in CUES}


def line_index(fragment: str) -> int:
    return next(index for index, cue in enumerate(CUES) if fragment in cue.text)


def label_of_line_with(prompt: str, fragment: str) -> str:
    """What a careful model cites: the time leading the prompt line that holds `fragment`."""
    line = next(line for line in prompt.splitlines() if fragment in line)
    return TIMESTAMP_PATTERN.match(line).group(0)


def cue_index_at(start_ms: int) -> int:
    return next(index for index, cue in enumerate(CUES) if cue.start_ms == start_ms)


def user_text(body: dict) -> str:
    return body["messages"][-1]["content"]


def chat_prompts(llm: FakeOpenAI) -> list[str]:
    return [user_text(request.body) for request in llm.requests if "messages" in request.body]


async def collect(events: Any) -> list[dict]:
    return [event async for event in events]


async def cooking_part() -> Any:
    return await ready_part(CUES, target_tokens=80)  # chunks of about 6 lines


async def test_the_prompt_keeps_line_boundaries_and_times(llm: FakeOpenAI) -> None:
    part = await cooking_part()
    llm.reply = "好的。"
    await collect(answer_stream(user=await User.objects.acreate(username="cook"), part=part, question="怎么炒糖色"))
    (prompt,) = chat_prompts(llm)
    assert "[00:54] 接下来是最关键的一步 炒糖色" in prompt  # two short lines share one time
    assert "[00:59] 锅里放一点点油 下冰糖小火慢慢炒" in prompt
    chunk_texts = [text async for text in Chunk.objects.filter(part=part).values_list("text", flat=True)]
    assert any("锅里放一点点油 下冰糖小火慢慢炒" in text for text in chunk_texts)  # not fused into one run


async def test_a_chat_citation_lands_within_one_line_of_the_sentence_it_quotes(llm: FakeOpenAI) -> None:
    part = await cooking_part()
    quoted = "接下来是最关键的一步"
    chunk_starts = {start async for start in Chunk.objects.filter(part=part).values_list("start_ms", flat=True)}
    assert CUES[line_index(quoted)].start_ms not in chunk_starts  # mid-chunk: a chunk start would be wrong

    def reply(body: dict) -> str:
        return f"炒糖色最关键，视频里说{quoted}{label_of_line_with(user_text(body), quoted)}，要小火慢炒。"

    llm.reply = reply
    user = await User.objects.acreate(username="cook")
    events = await collect(answer_stream(user=user, part=part, question="哪一步最关键"))

    (citation,) = next(event["citations"] for event in events if event["type"] == "citations")
    cited = cue_index_at(citation["start_ms"])
    assert line_index(quoted) - 1 <= cited <= line_index(quoted)
    assert citation["end_ms"] == CUES[cited].end_ms
    chunk = await Chunk.objects.aget(pk=citation["chunk_id"])
    assert chunk.start_ms <= citation["start_ms"] < chunk.end_ms


async def test_chat_times_off_a_line_are_snapped_and_invented_ones_removed_cleanly(llm: FakeOpenAI) -> None:
    part = await cooking_part()
    # 1:04 is inside "下冰糖小火慢慢炒" (1:02.3-1:04.9); 59:00 is past the end of the video.
    llm.reply = "先小火炒冰糖 [01:04]，炒到枣红色（[59:00]）再下肉 [59:00]。\n- [59:00]：动作要快"
    user = await User.objects.acreate(username="cook")
    events = await collect(answer_stream(user=user, part=part, question="糖色怎么炒"))

    text = "".join(event["text"] for event in events if event["type"] == "token")
    assert text == "先小火炒冰糖 [01:02]，炒到枣红色再下肉。\n- 动作要快"
    (citation,) = next(event["citations"] for event in events if event["type"] == "citations")
    assert citation["start_ms"] == CUES[line_index("下冰糖小火慢慢炒")].start_ms


def key_points_reply(body: dict) -> str:
    prompt = user_text(body)
    if "字幕（每行前是这一行开始的时间）" not in prompt:
        return ""  # another call (chapters): not what this test is about
    return (
        "## 摘要\n一道家常红烧肉的完整做法。\n\n## 要点\n"
        f"- 🥩 {label_of_line_with(prompt, '先把五花肉切成麻将块')} 五花肉切成麻将块\n"
        "- 💧 [00:36] 冷水下锅焯水\n"  # inside "切好以后冷水下锅" (0:35.0-0:37.6)
        f"- 🍬 {label_of_line_with(prompt, '接下来是最关键的一步')} 炒糖色是关键\n"
        "- 👻 [12:00] 编造的步骤\n"
    )


async def test_key_points_resolve_to_line_starts(llm: FakeOpenAI) -> None:
    part = await cooking_part()
    llm.reply = key_points_reply
    events = await collect(summary_stream(part, "zh", None))

    summary = events[-1]["summary"]
    starts = [point["start_ms"] for point in summary["key_points"]]
    assert starts[1] == CUES[line_index("切好以后冷水下锅")].start_ms  # 0:36 was inside that line
    # A summary prompt line holds up to three short lines: a point lands at most two lines early.
    for start, fragment in zip([starts[0], starts[2]], ["先把五花肉切成麻将块", "接下来是最关键的一步"], strict=True):
        assert 0 <= line_index(fragment) - cue_index_at(start) <= 2
    assert "- 💧 [00:35] 冷水下锅焯水\n" in summary["content"]
    assert "- 👻 编造的步骤\n" in summary["content"]


def section_notes_reply(body: dict) -> str:
    """Map calls cite their first line, a time inside it, and 0:00 (outside every later section)."""
    prompt = user_text(body)
    if "本段时间范围" not in prompt:
        return "## 摘要\n红烧肉。\n\n## 要点\n- 📌 [00:00] 开始\n"
    first = TIMESTAMP_PATTERN.search(prompt.split("本段时间范围", 1)[1].split("\n", 2)[2])
    nudged = format_timestamp(parse_timestamp(first.group(0)) + 1000)
    return f"## 一段\n> 要点\n- {first.group(0)} 这一段开头\n- {nudged} 稍后一点\n- [00:00] 别的段的时间\n"


async def test_section_notes_carry_only_times_of_their_own_section(llm: FakeOpenAI, settings: Any) -> None:
    settings.SUMMARY_SINGLE_PASS_TOKENS = 150
    settings.SUMMARY_SECTION_TOKENS = 120
    llm.reply = section_notes_reply
    part = await cooking_part()
    assert sum(count_tokens(cue.text) for cue in CUES) > 150
    events = await collect(summary_stream(part, "zh", None))
    assert events[-1]["type"] == "done"

    reduce_prompt = user_text(llm.requests[-1].body)
    blocks = re.findall(r"### (\[[\d:]+\])–(\[[\d:]+\])\n(.*?)(?=\n### |\Z)", reduce_prompt, re.S)
    assert len(blocks) > 1
    for start, end, notes in blocks:
        times = [parse_timestamp(match.group(0)) for match in TIMESTAMP_PATTERN.finditer(notes)]
        assert times, notes
        assert all(parse_timestamp(start) <= ms <= parse_timestamp(end) for ms in times)
        assert {ms for ms in times} <= {cue.start_ms // 1000 * 1000 for cue in CUES}
        assert "  " not in notes


def test_passages_keep_their_lines_and_start_at_their_first_line() -> None:
    chunks = [(400, 30_000, "…"), (29_500, 60_000, "…")]
    first, second = passages_from_cues(chunks, CUES[:23])
    assert first.cues == tuple(CUES[:11]) and second.cues == tuple(CUES[11:23])
    assert (first.start_ms, second.start_ms) == (400, 29_500)
    assert first.text.startswith("哈喽大家好 欢迎回到我的频道 今天给大家做一道家常红烧肉")
    assert second.start_of("千万不要用冷水冲") == CUES[line_index("千万不要用冷水冲")].start_ms
    assert second.start_of("不在这一段") == second.start_ms


def test_stored_cues_skip_blank_lines_and_sort_by_time() -> None:
    rows = [[5_000, 6_000, " 第二句 "], [1_000, 2_000, "第一句"], [7_000, 8_000, "  "], [9_000]]
    assert stored_cues(rows) == [Cue(1_000, 2_000, "第一句"), Cue(5_000, 6_000, "第二句")]


def test_a_chunk_has_the_lines_in_its_span_and_the_line_it_starts_inside() -> None:
    assert cues_in_span(CUES, 29_500, 40_200) == tuple(CUES[11:15])
    assert cues_in_span(CUES, 30_000, 34_800) == tuple(CUES[11:13])  # starts inside 0:29.5-0:32.3
