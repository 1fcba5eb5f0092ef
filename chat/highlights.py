"""High-energy moments (高能时刻): where the danmaku density rises well above the part's baseline.

Computed from `VideoPart.danmaku` alone (counts per bucket and each bucket's top texts), with
no LLM. Sliding windows of a few buckets are counted; the baseline is the median window and its
spread the median absolute deviation (or the Poisson spread √baseline when that is larger). A
window is a highlight when it is a local peak at least `min_ratio` times the baseline, at least
4 spreads above it, and holds at least `min_count` danmaku. Peaks closer than `min_gap_seconds`
are merged into the stronger one. A highlight's timestamp is the densest bucket of its window.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from chat.timestamps import format_timestamp

WINDOW_SECONDS = 30
MIN_RATIO = 2.5
MIN_COUNT = 8
SPREADS_ABOVE = 4.0
MIN_GAP_SECONDS = 60
TEXTS_PER_HIGHLIGHT = 3


@dataclass(frozen=True)
class Highlight:
    start_ms: int
    end_ms: int
    count: int  # danmaku in the window
    ratio: float  # count ÷ baseline window
    texts: list[tuple[str, int]]  # the most repeated danmaku in the window, with counts

    def to_dict(self) -> dict:
        return {**asdict(self), "texts": [[text, count] for text, count in self.texts]}

    @classmethod
    def from_dict(cls, data: dict) -> Highlight:
        texts = [(str(text), int(count)) for text, count in data.get("texts", [])]
        return cls(int(data["start_ms"]), int(data["end_ms"]), int(data["count"]), float(data["ratio"]), texts)


def danmaku_highlights(
    danmaku: dict,
    *,
    limit: int = 5,
    window_seconds: int = WINDOW_SECONDS,
    min_ratio: float = MIN_RATIO,
    min_count: int = MIN_COUNT,
    min_gap_seconds: int = MIN_GAP_SECONDS,
) -> list[Highlight]:
    """Up to `limit` density peaks of a part's danmaku, in time order; [] without danmaku."""
    counts = [max(0, int(count)) for count in (danmaku or {}).get("counts") or []]
    bucket_seconds = int((danmaku or {}).get("bucket_seconds") or 10)
    width = max(1, round(window_seconds / bucket_seconds))
    if sum(counts) < min_count or len(counts) < width:
        return []
    windows = [sum(counts[start : start + width]) for start in range(len(counts) - width + 1)]
    baseline = max(statistics.median(windows), 1.0)
    spread = max(statistics.median(abs(window - baseline) for window in windows) * 1.4826, math.sqrt(baseline))
    threshold = max(baseline * min_ratio, baseline + SPREADS_ABOVE * spread, float(min_count))
    candidates = [start for start, total in enumerate(windows) if total >= threshold and _is_peak(windows, start)]
    gap = max(1, math.ceil(min_gap_seconds / bucket_seconds))
    chosen = _strongest_apart(candidates, windows, gap, limit)
    top_texts = (danmaku or {}).get("top_texts") or []
    return [
        Highlight(
            start_ms=_densest_bucket(counts, start, width) * bucket_seconds * 1000,
            end_ms=(start + width) * bucket_seconds * 1000,
            count=windows[start],
            ratio=round(windows[start] / baseline, 1),
            texts=_window_texts(top_texts, start, width),
        )
        for start in sorted(chosen)
    ]


def _densest_bucket(counts: Sequence[int], start: int, width: int) -> int:
    """Where in a peak window the danmaku are thickest: the highlight's timestamp."""
    return max(range(start, start + width), key=lambda bucket: (counts[bucket], -bucket))


def _is_peak(windows: Sequence[int], index: int) -> bool:
    """Not lower than its neighbours (the first of a plateau counts)."""
    left = windows[index - 1] if index > 0 else -1
    right = windows[index + 1] if index + 1 < len(windows) else -1
    return windows[index] > left and windows[index] >= right


def _strongest_apart(candidates: list[int], windows: Sequence[int], gap: int, limit: int) -> list[int]:
    chosen: list[int] = []
    for start in sorted(candidates, key=lambda index: (-windows[index], index)):
        if len(chosen) >= limit:
            break
        if all(abs(start - other) >= gap for other in chosen):
            chosen.append(start)
    return chosen


def _window_texts(top_texts: Sequence, start: int, width: int) -> list[tuple[str, int]]:
    counter: Counter[str] = Counter()
    for bucket in top_texts[start : start + width]:
        for text, count in bucket or []:
            if str(text).strip():
                counter[str(text).strip()] += int(count)
    return sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:TEXTS_PER_HIGHLIGHT]


def highlights_markdown(highlights: Sequence[Highlight], heading: str, *, english: bool = False) -> str:
    """The 高能时刻 section: one list item per highlight with its timestamp and danmaku."""
    lines = [f"## {heading}"]
    for highlight in highlights:
        quoted = " ".join(f"「{text}」" for text, _ in highlight.texts)
        if english:
            detail = f"{highlight.count} danmaku, {highlight.ratio:g}× the usual"
        else:
            detail = f"{highlight.count} 条弹幕，约为平时的 {highlight.ratio:g} 倍"
        lines.append(f"- 🔥 {format_timestamp(highlight.start_ms)} {detail}：{quoted}".rstrip("："))
    return "\n".join(lines) + "\n"


def highlights_prompt_text(highlights: Sequence[Highlight]) -> str:
    """Highlights as plain lines for a prompt; "（无）" when there are none."""
    if not highlights:
        return "（无）"
    return "\n".join(
        f"{format_timestamp(h.start_ms)} {h.count} 条弹幕：" + "、".join(text for text, _ in h.texts)
        for h in highlights
    )
