"""Plain data shared by the fetching, transcript, chunking and embedding modules."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VideoRef:
    """A video named by a link: its BV id and the 1-based part number (?p=N)."""

    bvid: str
    page: int = 1


@dataclass(frozen=True)
class Cue:
    """One timed line of a transcript (a subtitle line or an ASR segment)."""

    start_ms: int
    end_ms: int
    text: str


@dataclass
class Transcript:
    cues: list[Cue]
    source: str  # VideoPart.TranscriptSource value: subtitle, ai_subtitle, asr, imported
    language: str = ""

    @property
    def duration_ms(self) -> int:
        return max((cue.end_ms for cue in self.cues), default=0)


@dataclass(frozen=True)
class ChunkDraft:
    """A chunk before it is stored: real start/end of its span, its text and token count."""

    start_ms: int
    end_ms: int
    text: str
    token_count: int


@dataclass
class PartInfo:
    page: int
    cid: int
    title: str
    duration_seconds: int


@dataclass
class VideoInfo:
    bvid: str
    aid: int
    title: str
    description: str
    owner_mid: int | None
    owner_name: str
    cover_url: str
    duration_seconds: int
    published_at: int | None  # Unix seconds
    stats: dict
    parts: list[PartInfo] = field(default_factory=list)
