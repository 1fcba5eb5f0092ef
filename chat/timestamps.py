"""Timestamps in generated text: `[mm:ss]` or `[h:mm:ss]`, checked against real transcript lines.

Every moment the product shows (key points, section notes, chat citations, comment drafts'
references, chapters, mind-map nodes) must be the start of a real cue (transcript line) of the
passage it came from. A model may copy a time wrongly or make one up, so its output goes through
a `TimestampChecker`, an index of cues:

    checker = TimestampChecker.from_cues(transcript.cues)      # (start_ms, end_ms, ...) or Cue-likes
    section = checker.within(start_ms, end_ms)                 # only the cues of one section
    excerpts = TimestampChecker.from_passages([cues, ...])     # a time must fall in one passage
    section.snap_to_cue(ms)      # -> the start (ms) of the nearest cue in range, or None
    section.fix_text(text)       # every timestamp snapped, or removed cleanly
    StreamingTimestampFixer(section).feed(delta) / .flush()    # the same over a stream

Rules of `snap_to_cue(ms)`:
- a time naming the second a cue starts in is that cue's start (the first such cue);
- a time outside the checker's range (before its first second, past its last second) is None:
  dropped, never moved into range;
- any other time goes to the nearest cue (the one containing it, else the closest one; ties to
  the later) and becomes that cue's start.
`fix_text` writes kept times in the canonical form and removes dropped ones together with what
would be left stray: enclosing brackets, a list separator joining it to another timestamp, a
colon after it, and the space on one side, so no double space or dangling "：" remains.
`from_spans` builds the same index from chunk spans, for transcripts without stored cues.
`cue_lines_text(cues, max_cues=, min_tokens=)` writes cues for a prompt the way the model must
cite them: `[mm:ss] text` per line, short cues sharing a line (and its first cue's time).
`start_for_label("[01:02]")` and `timestamped_lines(markdown, heading, checker)` read checked
text back into data: the start_ms of the cue a label names. The cues come from
`chat.selectors.part_transcript(...).cues` (each `Passage` keeps its own `.cues`, and
`Passage.start_of(sentence)` gives the start of the cue a quoted sentence begins in).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from core.tokens import count_tokens
from videos.chunking import join_lines
from videos.exports import clock

_TIME = r"(?:\d{1,2}:)?\d{1,3}:\d{2}"
# "[12:34]", "[1:02:03]", a range "[12:34-13:00]" (its end is dropped), full-width or ASCII brackets.
TIMESTAMP_PATTERN = re.compile(rf"[\[【]\s*(?P<start>{_TIME})(?:\s*[-–—~～至]\s*(?P<end>{_TIME}))?\s*[\]】]")
# What a timestamp can look like before its closing bracket arrives.
_OPEN_TIMESTAMP = r"[\[【][\s\d:\-–—~～至]{0,20}"
# The tail of streamed text that may still change: spaces, openers, separators, timestamps.
_UNSETTLED_TAIL = re.compile(rf"(?:[\s（(、，,:：]|{TIMESTAMP_PATTERN.pattern})*(?:{_OPEN_TIMESTAMP})?\Z")
_DROPPED = "\x00"  # marks a removed timestamp while what surrounds it is tidied
_TIDY_STEPS = (
    (re.compile(rf"[（(]\s*{_DROPPED}\s*[）)]"), _DROPPED),  # "（[99:00]）"
    (re.compile(rf"(?<=[\]】{_DROPPED}])\s*[、，,]\s*{_DROPPED}"), _DROPPED),  # "[01:10]、[99:00]"
    (re.compile(rf"{_DROPPED}\s*[、，,]\s*(?=[\[【{_DROPPED}])"), _DROPPED),  # "[99:00]、[01:10]"
    (re.compile(rf"{_DROPPED}\s*[:：]"), _DROPPED),  # "[99:00]：text"
)
_DROPPED_WITH_SPACE = re.compile(rf"(?P<left>[ \t]*){_DROPPED}(?P<right>[ \t]*)")
_CLOSING_PUNCTUATION = "。，、！？；：,.!?;:）)」』”’》】"


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


def _span(cue: Any) -> tuple[int, int]:
    if hasattr(cue, "start_ms"):
        return int(cue.start_ms), int(cue.end_ms)
    return int(cue[0]), int(cue[1])


@dataclass(frozen=True)
class TimestampChecker:
    """The cues (start_ms, end_ms) a timestamp may point at, and the ranges it must lie in."""

    cues: tuple[tuple[int, int], ...]
    ranges: tuple[tuple[int, int], ...] = ()  # (low_ms, high_ms): a time must fall in one of them

    @classmethod
    def from_cues(cls, cues: Iterable[Any]) -> TimestampChecker:
        """From cues: `Cue`s, or tuples/lists starting (start_ms, end_ms, ...). Range: 0 to the last end."""
        spans = tuple(sorted({_span(cue) for cue in cues}))
        return cls(spans, ((0, max((end for _, end in spans), default=0)),) if spans else ())

    @classmethod
    def from_passages(cls, passages: Iterable[Iterable[Any]]) -> TimestampChecker:
        """From passages (each an iterable of cues): a time must fall inside one passage, from its
        first cue's second to its last cue's end, and snaps to a cue of that passage."""
        groups = [sorted({_span(cue) for cue in passage}) for passage in passages]
        groups = [group for group in groups if group]
        ranges = tuple(sorted((group[0][0] // 1000 * 1000, max(end for _, end in group)) for group in groups))
        return cls(tuple(sorted({cue for group in groups for cue in group})), ranges)

    @classmethod
    def from_spans(cls, spans: Iterable[tuple[int, int]]) -> TimestampChecker:
        """From chunk spans, each taken for one cue (a transcript without stored cues)."""
        return cls.from_cues(spans)

    @property
    def starts(self) -> list[int]:
        return [start for start, _ in self.cues]

    @property
    def end_ms(self) -> int:
        return max((high for _, high in self.ranges), default=0)

    def within(self, start_ms: int, end_ms: int) -> TimestampChecker:
        """Only the cues that start in [start_ms, end_ms]; times outside that range are dropped."""
        inside = tuple(cue for cue in self.cues if start_ms <= cue[0] <= end_ms)
        return TimestampChecker(inside, ((start_ms // 1000 * 1000, end_ms),) if inside else ())

    def snap_to_cue(self, ms: int) -> int | None:
        """The start of the cue `ms` should point at, or None when `ms` is out of range."""
        span = next((span for span in self.ranges if span[0] <= ms and ms // 1000 <= span[1] // 1000), None)
        if span is None or ms < 0:
            return None
        cues = self.cues if len(self.ranges) == 1 else self.within(*span).cues
        starts = [start for start, _ in cues]
        first_in_second = bisect.bisect_left(starts, ms // 1000 * 1000)
        if first_in_second < len(starts) and starts[first_in_second] // 1000 == ms // 1000:
            return starts[first_in_second]  # the model named a cue's second exactly
        index = bisect.bisect_right(starts, ms)
        nearby = cues[max(0, index - 3) : index + 1]
        if not nearby:
            return None
        start, _ = min(nearby, key=lambda cue: (max(cue[0] - ms, ms - cue[1], 0), -cue[0]))
        return start

    correct = snap_to_cue  # the older name

    def start_for_label(self, label: str) -> int | None:
        """The real start (ms) of the cue a canonical timestamp names, if one does."""
        ms = parse_timestamp(label)
        if ms is None:
            return None
        snapped = self.snap_to_cue(ms)
        return snapped if snapped is not None and snapped // 1000 == ms // 1000 else None

    def fix_text(self, text: str) -> str:
        """Snap every timestamp in `text` to a cue start, or remove it without leaving debris."""
        marked = TIMESTAMP_PATTERN.sub(self._replacement, text.replace(_DROPPED, ""))
        if _DROPPED not in marked:
            return marked
        for pattern, replacement in _TIDY_STEPS:
            marked = pattern.sub(replacement, marked)
        return _DROPPED_WITH_SPACE.sub(_space_for_dropped, marked)

    def _replacement(self, match: re.Match[str]) -> str:
        ms = parse_timestamp(match.group("start"))
        snapped = self.snap_to_cue(ms) if ms is not None else None
        return _DROPPED if snapped is None else format_timestamp(snapped)


def _space_for_dropped(match: re.Match[str]) -> str:
    """One space where a removed timestamp stood between words; none at a line's edge or before
    punctuation."""
    text, before, after = match.string, match.start(), match.end()
    at_line_start = before == 0 or text[before - 1] == "\n"
    at_line_end = after == len(text) or text[after] in "\n" + _DROPPED + _CLOSING_PUNCTUATION
    if at_line_start or at_line_end or not (match.group("left") or match.group("right")):
        return ""
    return " "


class StreamingTimestampFixer:
    """`fix_text` for a stream: `feed(delta)` returns the text that is safe to send on.

    The unsettled tail (spaces, brackets, separators and timestamps at the end, which the next
    delta may still change) is held back; the last character sent is given as context.
    """

    def __init__(self, checker: TimestampChecker) -> None:
        self.checker = checker
        self._pending = ""
        self._last_sent = ""

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        tail = _UNSETTLED_TAIL.search(text)
        cut = tail.start() if tail else len(text)
        self._pending = text[cut:]
        return self._fix(text[:cut])

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self._fix(text)

    def _fix(self, text: str) -> str:
        if not text:
            return ""
        fixed = self.checker.fix_text(self._last_sent + text)[len(self._last_sent) :]
        if fixed:
            self._last_sent = fixed[-1]
        return fixed


def cue_lines_text(cues: Sequence[Any], *, max_cues: int, min_tokens: int) -> str:
    """Cues as `[mm:ss] text` lines for a prompt: a line takes the next cue while it has fewer than
    `max_cues` cues and fewer than `min_tokens` tokens; its time is its first cue's start."""
    lines: list[str] = []
    group: list[Any] = []
    tokens = 0
    for cue in cues:
        if group and (len(group) >= max_cues or tokens >= min_tokens):
            lines.append(f"{format_timestamp(group[0].start_ms)} {join_lines(c.text for c in group)}")
            group, tokens = [], 0
        group.append(cue)
        tokens += count_tokens(cue.text)
    if group:
        lines.append(f"{format_timestamp(group[0].start_ms)} {join_lines(c.text for c in group)}")
    return "\n".join(lines)


def timestamped_lines(markdown: str, heading: str, checker: TimestampChecker) -> list[dict]:
    """[{"start_ms", "text"}] for each list item under the `## <heading>…` section with a valid
    timestamp: the start of the cue its first timestamp names, and its text without timestamps.
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
