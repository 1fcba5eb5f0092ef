"""Real audio for the ASR tests, made with PyAV: numbered tones with silence between them.

Line k (from 0) is a sine of `tone_hz(k)` for TONE_SECONDS, then SILENCE_SECONDS of silence, so
a fake ASR server can tell from the sound alone which line it heard (tests.fakes.openai_asr).
"""

from __future__ import annotations

import math
from array import array
from pathlib import Path

import av

RATE = 16_000
TONE_SECONDS = 7
SILENCE_SECONDS = 3
LINE_SECONDS = TONE_SECONDS + SILENCE_SECONDS
BASE_HZ, STEP_HZ = 300, 10


def tone_hz(line: int) -> int:
    return BASE_HZ + STEP_HZ * line


def line_of_hz(hz: float) -> int:
    return round((hz - BASE_HZ) / STEP_HZ)


def _second_of_tone(hz: int) -> bytes:
    """One second of a sine at a whole number of Hz: it repeats seamlessly."""
    return array("h", (round(8000 * math.sin(2 * math.pi * hz * i / RATE)) for i in range(RATE))).tobytes()


def write_numbered_tones(path: Path, *, lines: int, bit_rate: int = 24_000, codec: str = "aac") -> Path:
    """`lines` numbered tones (LINE_SECONDS each) as mono m4a (aac) or mp3 at `bit_rate`."""
    container_format = "mp4" if codec == "aac" else "mp3"
    silence = bytes(2 * RATE)
    with av.open(str(path), "w", format=container_format) as output:
        stream = output.add_stream(codec, rate=RATE, layout="mono")
        stream.bit_rate = bit_rate
        pts = 0
        for line in range(lines):
            tone = _second_of_tone(tone_hz(line))
            for second in range(LINE_SECONDS):
                frame = av.AudioFrame(format="s16", layout="mono", samples=RATE)
                frame.planes[0].update(tone if second < TONE_SECONDS else silence)
                frame.sample_rate, frame.pts = RATE, pts
                pts += RATE
                output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def write_silence(path: Path, *, seconds: int) -> Path:
    """Plain silence as mono m4a."""
    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=RATE, layout="mono")
        for second in range(seconds):
            frame = av.AudioFrame(format="s16", layout="mono", samples=RATE)
            frame.planes[0].update(bytes(2 * RATE))
            frame.sample_rate, frame.pts = RATE, second * RATE
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path
