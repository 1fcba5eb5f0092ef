"""The tools' typed outputs (their JSON schemas are the tools' output schemas) and their links.

Every moment carries two links: `url`, the ChatBili video page opened there (`?t=` seconds), and
`bilibili_url`, the Bilibili player there (`&t=` seconds).
"""

from __future__ import annotations

from django.urls import reverse
from pydantic import BaseModel, Field

from chat.library import moment_url
from chat.mindmap import player_url
from videos.exports import clock
from videos.models import VideoPart


class Moment(BaseModel):
    """A moment of a video with its links."""

    start_ms: int = Field(description="开始时间（毫秒）/ start, in milliseconds")
    time: str = Field(description="mm:ss 或 h:mm:ss / the start as mm:ss or h:mm:ss")
    url: str = Field(description="ChatBili 视频页，定位到该时刻 / ChatBili video page at this moment (?t=)")
    bilibili_url: str = Field(description="B 站播放器，定位到该时刻 / Bilibili player at this moment (&t=)")


def moment(*, base: str, bvid: str, page: int, start_ms: int) -> dict:
    """The fields of a `Moment` (base: the site's address, "" for a relative link)."""
    return {
        "start_ms": start_ms,
        "time": clock(int(start_ms)),
        "url": base + moment_url(bvid=bvid, page=page, start_ms=start_ms),
        "bilibili_url": player_url(bvid, page, start_ms),
    }


class ProgressOut(BaseModel):
    bvid: str
    page: int
    part_title: str
    video_title: str
    duration_seconds: int
    stage: str = Field(description="queued, metadata, transcript, chunks, embeddings, ready, failed")
    progress_percent: int
    ready: bool = Field(description="可以总结和提问了 / summaries and questions work now")
    error_code: str = Field(description="失败原因代码（未失败时为空）/ why it failed (empty unless failed)")
    error: str = Field(description="失败原因 / the failure, in the client's language")
    url: str = Field(description="ChatBili 视频页 / the ChatBili video page")


def progress_out(part: VideoPart, *, base: str) -> dict:
    video = part.video
    return {
        "bvid": video.bvid,
        "page": part.page,
        "part_title": part.title,
        "video_title": video.title,
        "duration_seconds": part.duration_seconds,
        "stage": part.stage,
        "progress_percent": part.progress_percent,
        "ready": part.is_ready,
        "error_code": part.error_code,
        "error": part.error_text(),
        "url": base + reverse("video_page", args=[video.bvid, part.page]),
    }


class PartBrief(BaseModel):
    page: int
    title: str
    duration_seconds: int


class SubmitOut(BaseModel):
    bvid: str
    video_title: str
    owner_name: str
    parts: list[PartBrief] = Field(description="视频的全部分P / every part of the video")
    progress: ProgressOut = Field(description="所提交分P的处理进度 / the submitted part's ingestion")


class KeyPoint(Moment):
    text: str


class Chapter(Moment):
    end_ms: int
    title: str
    gist: str = Field(description="一句话概括 / one line on what it says")


class SummaryOut(BaseModel):
    bvid: str
    page: int
    language: str
    style: str = Field(description="风格键 / the style key")
    abstract: str = Field(description="总结全文（Markdown，时间戳为 [mm:ss]）/ the summary as Markdown")
    key_points: list[KeyPoint] = Field(description="要点，每条都指向视频里的真实时刻 / key points at real moments")
    chapters: list[Chapter] = Field(description="章节，从 0 铺满整个分P / chapters tiling the part")
    cached: bool = Field(description="直接用了已有的总结（不计配额）/ an existing summary was reused (free)")
    offline: bool = Field(description="未调用大模型生成 / made without the LLM")
    model: str


class Cue(Moment):
    end_ms: int
    text: str


class TranscriptOut(BaseModel):
    bvid: str
    page: int
    source: str = Field(description="字幕来源 / where the transcript came from (subtitle, asr, ...)")
    language: str
    total_cues: int = Field(description="时间范围内的字幕行数 / lines in the asked range")
    offset: int
    next_offset: int | None = Field(description="下一页的 offset，没有更多时为 null / the next page's offset, or null")
    cues: list[Cue]


class Citation(Moment):
    bvid: str
    page: int
    video_title: str
    part_title: str
    end_ms: int
    label: str = Field(description="回答里的时间标记 / the label as written in the answer")


class AnswerOut(BaseModel):
    answer: str = Field(description="回答（Markdown，带时间标记）/ the answer as Markdown, with moment labels")
    citations: list[Citation] = Field(description="回答引用的视频时刻 / the moments the answer cites")
    conversation_id: int = Field(description="继续这个对话时传入 / pass it to continue the conversation")
    message_id: int
    offline: bool


class SearchHit(Moment):
    bvid: str
    page: int
    video_title: str
    part_title: str
    end_ms: int
    text: str
    score: float


class SearchOut(BaseModel):
    query: str
    hits: list[SearchHit]


class LibraryItem(BaseModel):
    bvid: str
    page: int
    video_title: str
    part_title: str
    owner_name: str = Field(description="UP 主 / the uploader")
    duration_seconds: int
    stage: str
    progress_percent: int
    ready: bool
    url: str


class LibraryOut(BaseModel):
    total: int
    offset: int
    next_offset: int | None
    items: list[LibraryItem]
