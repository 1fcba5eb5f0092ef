"""Timestamps in generated text: `[mm:ss]` or `[h:mm:ss]`, checked against the real chunk starts.

A model may copy a timestamp wrongly or make one up. Every timestamp in its output goes through
`TimestampChecker.correct`:
- one that names the second a chunk starts at is kept (written in the canonical form);
- one past the end of the transcript (or before 0) is removed;
- one inside the transcript is moved to the start of the chunk that contains it (the latest
  such chunk, so seeking there plays up to the moment), or, in a gap between chunks, to the
  nearest chunk start.
So every timestamp left seeks to a real chunk start. `StreamingTimestampFixer` does the same to
a stream of text deltas, holding back only a possible timestamp until its `]` arrives.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from videos.exports import clock

_TIME = r"(?:\d{1,2}:)?\d{1,3}:\d{2}"
# "[12:34]", "[1:02:03]", a range "[12:34-13:00]" (its end is dropped), full-width or ASCII brackets.
TIMESTAMP_PATTERN = re.compile(rf"[\[【]\s*(?P<start>{_TIME})(?:\s*[-–—~～至]\s*(?P<end>{_TIME}))?\s*[\]】]")
# What a timestamp can look like before its closing bracket arrives.
_OPEN_TIMESTAMP = re.compile(r"[\[【][\s\d:\-–—~～至]{0,20}\Z")


def format_timestamp(ms: int) -> str:
    """`[mm:ss]` below an hour, `[h:mm:ss]` from an hour on (seconds are truncated)."""
    return f"[{clock(int(ms))}]"


def parse_timestamp(text: str) -> int | None:
    """Milliseconds of "mm:ss" or "h:mm:ss" (brackets allowed); None when it is not a valid time."""
    match = re.fullmatch(rf"[\[【]?\s*({_TIME})\s*[\]】]?", text.strip())
    if match is None:
        return None
    fields = [int(field) for field in match.group(1).split(":")]
    if fields[-1] >= 60 or (len(fields) == 3 and fields[1] >= 60):
        return None
    hours, minutes, seconds = fields if len(fields) == 3 else (0, *fields)
    return ((hours * 60 + minutes) * 60 + seconds) * 1000


@dataclass(frozen=True)
class TimestampChecker:
    """The chunk spans of one part, (start_ms, end_ms), used to correct timestamps."""

    spans: tuple[tuple[int, int], ...]

    @classmethod
    def from_spans(cls, spans: Sequence[tuple[int, int]]) -> TimestampChecker:
        return cls(tuple(sorted((int(start), int(end)) for start, end in spans)))

    @property
    def starts(self) -> list[int]:
        return [start for start, _ in self.spans]

    @property
    def end_ms(self) -> int:
        return max((end for _, end in self.spans), default=0)

    def correct(self, ms: int) -> int | None:
        """The chunk start `ms` should point at, or None when it lies outside the transcript."""
        if not self.spans or ms < 0 or ms // 1000 > self.end_ms // 1000:
            return None
        starts = self.starts
        first_in_second = bisect.bisect_left(starts, ms // 1000 * 1000)
        if first_in_second < len(starts) and starts[first_in_second] // 1000 == ms // 1000:
            return starts[first_in_second]  # the model named a chunk's second exactly
        index = bisect.bisect_right(starts, ms) - 1
        containing = [start for start, end in self.spans[: index + 1] if end >= ms]
        if containing:
            return max(containing)
        return min(starts, key=lambda start: (abs(start - ms), start))

    def start_for_label(self, label: str) -> int | None:
        """The real start (ms) of the chunk a canonical timestamp names, if one does."""
        ms = parse_timestamp(label)
        if ms is None:
            return None
        corrected = self.correct(ms)
        return corrected if corrected is not None and corrected // 1000 == ms // 1000 else None

    def fix_text(self, text: str) -> str:
        """Correct or remove every timestamp in `text`."""
        return TIMESTAMP_PATTERN.sub(self._replacement, text)

    def _replacement(self, match: re.Match[str]) -> str:
        ms = parse_timestamp(match.group("start"))
        corrected = self.correct(ms) if ms is not None else None
        return "" if corrected is None else format_timestamp(corrected)


class StreamingTimestampFixer:
    """`fix_text` for a stream: `feed(delta)` returns the text that is safe to send on."""

    def __init__(self, checker: TimestampChecker) -> None:
        self.checker = checker
        self._pending = ""

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        opening = max(text.rfind("["), text.rfind("【"))
        if opening >= 0 and _OPEN_TIMESTAMP.match(text, opening):
            self._pending = text[opening:]
            text = text[:opening]
        else:
            self._pending = ""
        return self.checker.fix_text(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self.checker.fix_text(text)


def timestamped_lines(markdown: str, heading: str, checker: TimestampChecker) -> list[dict]:
    """[{"start_ms", "text"}] for each list item under the `## <heading>…` section with a valid
    timestamp: its first timestamp's chunk start and the item's text without timestamps.
    """
    items: list[dict] = []
    in_section = False
    for line in markdown.splitlines():
        if line.startswith("#"):
            in_section = line.lstrip("#").strip().startswith(heading)
            continue
        if not in_section or not line.lstrip().startswith(("-", "*", "•")):
            continue
        match = TIMESTAMP_PATTERN.search(line)
        start = checker.start_for_label(match.group("start")) if match else None
        if start is None:
            continue
        text = TIMESTAMP_PATTERN.sub("", line.lstrip()[1:]).strip()
        items.append({"start_ms": start, "text": re.sub(r"\s{2,}", " ", text)})
    return items
