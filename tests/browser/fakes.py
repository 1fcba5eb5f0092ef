"""The fake Bilibili catalogue and LLM replies the browser tests use.

XSS_VIDEO carries script and onerror payloads in its title, part title, owner name, subtitles
and danmaku (the danmaku make a 高能时刻 at 0:30). The fake LLM answers by the prompt it gets:
summaries, answers and comment drafts, with raw HTML whenever the video is the XSS one.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.bilibili import FakeBilibili, FakePart, FakeSubtitle, FakeVideo, catalogue_videos
from tests.fakes.openai import FakeOpenAI

TITLE_PAYLOAD = '<script>window.__xss="title"</script><img src=x onerror="window.__xss=\'title\'">'
CUE_PAYLOAD = "<img src=x onerror=\"window.__xss='cue'\">"
DANMAKU_PAYLOAD = "<img src=x onerror=\"window.__xss='danmaku'\">"
ANSWER_PAYLOAD = "<script>window.__xss='answer'</script><img src=x onerror=\"window.__xss='answer'\">"
XSS_BVID = "BV1As411Y7Jj"  # av7770001

SUMMARY_REPLY = (
    "## 摘要\nUP 主先问好，然后开始讲拜年祭的快板，配上了电音。\n\n"
    "## 要点\n- 👋 [00:07] UP 主向大家问好\n- 🎵 [00:09] 开始讲快板\n"
)
ANSWER_REPLY = "视频一开头 UP 主就向大家问好 [00:07]，随后开始讲快板。"
COMMENTS_REPLY = "1. [00:07] 开头的问好好亲切\n2. 快板配电音，绝了\n3. 求出续集！\n"


def xss_video() -> FakeVideo:
    lines = [
        (0.5, 9.5, f"开场白 {CUE_PAYLOAD}"),
        (10.0, 19.5, "<script>window.__xss='cue'</script> 第二句字幕"),
        (20.0, 39.5, "中间的内容 & 一些 <b>粗体</b> 标签"),
        (40.0, 89.5, "后半段的内容"),
        (90.0, 119.5, "结尾：谢谢观看"),
    ]
    danmaku = [(float(second) + 0.5, "普通弹幕") for second in range(0, 120, 7)]
    danmaku += [(30 + index * 0.2, DANMAKU_PAYLOAD) for index in range(20)]
    part = FakePart(
        77700011,
        f"P1 {TITLE_PAYLOAD}",
        120,
        subtitles=[FakeSubtitle("zh-CN", "中文（中国）", lines)],
        danmaku=danmaku,
    )
    return FakeVideo(XSS_BVID, 7770001, f"XSS 测试 {TITLE_PAYLOAD}", parts=[part], owner=(9, f"UP {TITLE_PAYLOAD}"))


def browser_bilibili() -> FakeBilibili:
    return FakeBilibili(videos=[*catalogue_videos(), xss_video(), long_video()])


def llm_reply(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    prompt = "\n".join(message["content"] for message in body["messages"])
    hostile = "__xss" in prompt
    structure = structure_reply(system, prompt)
    if structure is not None:
        return structure
    if "视频总结助手" in system:
        reply = SUMMARY_REPLY
        return reply + (f"\n注意：{ANSWER_PAYLOAD}\n" if hostile else "")
    if "视频问答助手" in system:
        return f"{ANSWER_PAYLOAD} 原样的 HTML [00:00]" if hostile else ANSWER_REPLY
    return f"1. {ANSWER_PAYLOAD} 草稿\n" + COMMENTS_REPLY.split("\n", 1)[1] if hostile else COMMENTS_REPLY


def browser_llm() -> FakeOpenAI:
    # Slow embeddings keep ingestion visibly in progress; a token delay makes streaming visible.
    return FakeOpenAI(reply=llm_reply, token_delay=0.03, embedding_delay=1.5)


# --- Chapters and the sections of a long part (issue 13) --------------------------------------------

LONG_BVID = "BV1As411Y7JL"  # av7770002
LONG_CUE_SECONDS = 5
LONG_CUE_COUNT = 400  # about 16k tokens: map-reduce in three sections
# The last section's notes are long, so its map call streams for about this many tokens' time.
SLOW_SECTION_TOKENS = 320
# Short: the fake streams every token with a delay, and the chapter call comes before `done`.
CHAPTERS_REPLY = json.dumps(
    {"chapters": [{"start": "0:00", "title": "全片", "gist": ""}]}, separators=(",", ":"), ensure_ascii=False
)
_SECTION_FIRST_CUE = re.compile(r"(\[\d{1,2}:\d{2}(?::\d{2})?\])\s*第(\d+)句")


def long_video() -> FakeVideo:
    """A 33-minute part with one cue every 5 s, each naming its number ("第 N 句")."""
    lines = [
        (
            index * LONG_CUE_SECONDS,
            index * LONG_CUE_SECONDS + LONG_CUE_SECONDS - 0.5,
            f"第{index + 1}句：长视频里的一段讲解，内容包括一些数字和结论，比如三加四等于七，还有别的。",
        )
        for index in range(LONG_CUE_COUNT)
    ]
    part = FakePart(
        77700021, "长视频", LONG_CUE_COUNT * LONG_CUE_SECONDS, subtitles=[FakeSubtitle("zh-CN", "中文（中国）", lines)]
    )
    return FakeVideo(LONG_BVID, 7770002, "一个很长的讲座", parts=[part])


def section_title(first_cue: int) -> str:
    return f"从第{first_cue}句讲起"


def structure_reply(system: str, prompt: str) -> str | None:
    """Chapters (JSON) for short parts, and a section's title, gist and notes for long ones; the
    section that holds the part's last cue answers with long notes, so its map call is the slow one."""
    if "划分章节" in system:
        return CHAPTERS_REPLY
    if "其中一段做笔记" not in system:
        return None
    transcript = prompt.split("内容：", 1)[-1]
    first = _SECTION_FIRST_CUE.search(transcript)
    stamp, number = (first.group(1), int(first.group(2))) if first else ("[00:00]", 1)
    notes = f"## {section_title(number)}\n> 这一段从第{number}句开始讲。\n- {stamp} 第{number}句讲了开头的数字\n"
    if f"第{LONG_CUE_COUNT}句" in transcript:
        notes += "- " + stamp + " " + "慢" * SLOW_SECTION_TOKENS + "\n"
    return notes


# --- A citation that lands on its sentence (issue 13) ---------------------------------------------

PRECISE_BVID = "BV1As411Y7J5"  # av7770003
# AI-subtitle lines (start s, end s, text): short, unpunctuated, at uneven times.
PRECISE_LINES = [
    (0.4, 2.9, "大家好欢迎收看"),
    (2.9, 5.6, "今天我们来泡一壶乌龙茶"),
    (5.9, 8.3, "先说说茶具"),
    (8.3, 11.0, "盖碗或者紫砂壶都可以"),
    (11.4, 13.8, "第一步是温杯"),
    (13.8, 16.5, "用开水把杯子烫一遍"),
    (16.9, 19.2, "这样茶香更容易出来"),
    (19.2, 22.0, "然后投茶大概七克"),
    (22.3, 24.8, "第一泡是洗茶"),
    (24.8, 27.5, "水一冲进去马上倒掉"),
    (27.9, 30.3, "接下来才是正式冲泡"),
    (30.3, 33.1, "水温一定要到九十五度以上"),
    (33.5, 36.0, "乌龙茶喜欢高温"),
    (36.0, 38.7, "水温低了香气出不来"),
    (39.1, 41.6, "第一泡只要十秒就出汤"),
    (41.6, 44.4, "以后每泡多加五秒"),
    (44.8, 47.1, "出汤要快要干净"),
    (47.1, 49.9, "不然茶汤会发苦"),
    (50.3, 52.6, "一泡好茶能泡七八次"),
    (52.6, 55.4, "每一泡的味道都不一样"),
    (55.8, 58.1, "前几泡香气最足"),
    (58.1, 60.9, "后面几泡回甘更明显"),
    (61.3, 63.7, "最后说说怎么存茶"),
    (63.7, 66.5, "一定要密封避光防潮"),
    (66.9, 69.2, "放冰箱的话要单独放"),
    (69.2, 72.0, "不然会串味"),
    (72.4, 74.8, "好了今天就到这里"),
    (74.8, 77.5, "喜欢的话点个关注吧"),
]
# The answer quotes this line and cites the time leading the prompt line that holds it.
PRECISE_QUOTE = "水温一定要到九十五度以上"


def precise_video() -> FakeVideo:
    part = FakePart(77700031, "泡乌龙茶", 78, subtitles=[FakeSubtitle("zh-CN", "中文（中国）", PRECISE_LINES)])
    return FakeVideo(PRECISE_BVID, 7770003, "三分钟学会泡乌龙茶", parts=[part])


def precise_answer(body: dict[str, Any]) -> str | None:
    """The answer to a question about the tea video: it quotes PRECISE_QUOTE and cites the time of
    the excerpt line that holds it, as a careful model does; None for any other request."""
    prompt = body["messages"][-1]["content"]
    if "视频问答助手" not in body["messages"][0]["content"] or "三分钟学会泡乌龙茶" not in prompt:
        return None
    line = next((line for line in prompt.splitlines() if PRECISE_QUOTE in line), None)
    stamp = re.match(r"\[[\d:]+\]", line) if line else None
    if stamp is None:
        return "片段里没有找到这句话。"
    return f"视频里说{PRECISE_QUOTE}{stamp.group(0)}，因为乌龙茶喜欢高温。"
