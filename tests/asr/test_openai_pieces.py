"""The OpenAI-compatible path with audio over the upload limit: overlapping pieces cut by PyAV,
cues joined into one timeline without duplicates or gaps. The audio is real (numbered tones) and
the fake server transcribes what it hears (tests.fakes.openai_asr, listen=True)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.asr.generated_audio import LINE_SECONDS, TONE_SECONDS, write_numbered_tones
from tests.fakes.openai_asr import FakeOpenAIASR
from videos.asr import transcribe_audio
from videos.audio import AudioPiece, join_piece_cues, split_audio
from videos.types import Cue, Transcript


@pytest.fixture
def openai_asr(fake_server: Any, settings: Any) -> FakeOpenAIASR:
    settings.ASR_BACKEND = "openai"
    settings.ASR_API_KEY = "test-asr-key"
    settings.ASR_RETRY_BASE_DELAY_SECONDS = 0.01
    fake = FakeOpenAIASR(listen=True)
    fake_server(fake.app, ASR_BASE_URL="/v1")
    return fake


@pytest.fixture(scope="module")
def three_minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_numbered_tones(tmp_path_factory.mktemp("audio") / "tones.m4a", lines=18)


def assert_continuous(transcript: Transcript, lines: int) -> None:
    """Every line once, in order, where it was spoken (± a window), and no cue overlapping the next."""
    assert [cue.text for cue in transcript.cues] == [f"第{line}句" for line in range(lines)]
    for line, cue in enumerate(transcript.cues):
        assert abs(cue.start_ms - line * LINE_SECONDS * 1000) <= 300
        assert abs(cue.end_ms - (line * LINE_SECONDS + TONE_SECONDS) * 1000) <= 300
    assert all(cue.end_ms <= following.start_ms for cue, following in itertools.pairwise(transcript.cues))


async def test_audio_under_the_limit_goes_up_whole(openai_asr: FakeOpenAIASR, three_minutes: Path) -> None:
    transcript = await transcribe_audio(three_minutes)
    assert len(openai_asr.uploads) == 1
    assert_continuous(transcript, 18)


async def test_audio_over_the_limit_goes_up_in_pieces(
    openai_asr: FakeOpenAIASR, three_minutes: Path, settings: Any
) -> None:
    settings.ASR_UPLOAD_MAX_BYTES = 120_000  # the file is about 420 kB
    settings.ASR_PIECE_OVERLAP_SECONDS = 12
    openai_asr.max_bytes = 120_000  # and the fake refuses anything larger
    transcript = await transcribe_audio(three_minutes)
    assert len(openai_asr.uploads) >= 4
    assert all(len(upload.data) <= 120_000 for upload in openai_asr.uploads)
    assert_continuous(transcript, 18)


async def test_audio_bytes_over_the_limit_are_split_too(
    openai_asr: FakeOpenAIASR, three_minutes: Path, settings: Any
) -> None:
    settings.ASR_UPLOAD_MAX_BYTES, settings.ASR_PIECE_OVERLAP_SECONDS = 150_000, 15
    transcript = await transcribe_audio(three_minutes.read_bytes(), filename="BV1xx-p1.m4a")
    assert len(openai_asr.uploads) >= 3
    assert_continuous(transcript, 18)


def test_pieces_overlap_and_cover_the_whole_file(three_minutes: Path, tmp_path: Path) -> None:
    pieces = split_audio(three_minutes, max_bytes=120_000, overlap_seconds=12, into=tmp_path)
    assert pieces[0].start_seconds == 0
    assert pieces[-1].end_seconds == pytest.approx(18 * LINE_SECONDS, abs=0.1)
    assert len(pieces) == 5
    assert pieces[-2].end_seconds < 18 * LINE_SECONDS  # no piece lies wholly inside the one before
    for piece, following in itertools.pairwise(pieces):
        assert piece.end_seconds - following.start_seconds == pytest.approx(12, abs=0.2)
    assert all(piece.path.stat().st_size <= 120_000 for piece in pieces)


def test_joining_keeps_a_line_heard_by_two_pieces_once() -> None:
    first = AudioPiece(Path("a"), 0.0, 60.0)
    second = AudioPiece(Path("b"), 40.0, 100.0)
    # "c" (45-52 s) is in the overlap 40-60 s: both pieces heard it; the cut is at 50 s.
    cues_a = [Cue(0, 7000, "a"), Cue(45_000, 52_000, "c"), Cue(55_000, 60_000, "d-cut-off")]
    cues_b = [Cue(5000, 12_000, "c"), Cue(15_000, 22_000, "d"), Cue(30_000, 37_000, "e")]
    assert join_piece_cues([(first, cues_a), (second, cues_b)]) == [
        Cue(0, 7000, "a"),
        Cue(45_000, 52_000, "c"),
        Cue(55_000, 62_000, "d"),
        Cue(70_000, 77_000, "e"),
    ]


def test_a_kept_cue_running_into_the_next_one_is_ended_there() -> None:
    first = AudioPiece(Path("a"), 0.0, 60.0)
    second = AudioPiece(Path("b"), 40.0, 100.0)
    cues_a = [Cue(48_000, 53_000, "x")]
    cues_b = [Cue(12_000, 20_000, "y")]  # 52-60 s
    assert join_piece_cues([(first, cues_a), (second, cues_b)]) == [Cue(48_000, 52_000, "x"), Cue(52_000, 60_000, "y")]


@pytest.mark.slow
async def test_sixty_minutes_of_audio_in_pieces_with_continuous_cues(
    openai_asr: FakeOpenAIASR, tmp_path: Path, settings: Any
) -> None:
    """60 minutes (360 lines) at 24 kbit/s is about 8 MB; a 3 MB limit makes it go up in pieces."""
    audio = write_numbered_tones(tmp_path / "hour.m4a", lines=360)
    settings.ASR_UPLOAD_MAX_BYTES = openai_asr.max_bytes = 3 * 1024 * 1024
    transcript = await transcribe_audio(audio)
    assert len(openai_asr.uploads) >= 3
    assert transcript.duration_ms == pytest.approx((359 * LINE_SECONDS + TONE_SECONDS) * 1000, abs=300)
    assert_continuous(transcript, 360)


def test_a_line_cut_off_by_a_pieces_end_is_taken_from_the_next_piece() -> None:
    first = AudioPiece(Path("a"), 0.0, 46.0)
    second = AudioPiece(Path("b"), 34.0, 80.0)
    cues_a = [Cue(30_000, 37_000, "3"), Cue(40_000, 46_000, "4-cut-off")]  # the middle cut would be 40 s
    cues_b = [Cue(0, 3000, "3-cut-off"), Cue(6000, 13_000, "4")]
    assert join_piece_cues([(first, cues_a), (second, cues_b)]) == [Cue(30_000, 37_000, "3"), Cue(40_000, 47_000, "4")]
