"""videos.asr against local fakes of bcut (必剪) and an OpenAI-compatible /audio/transcriptions."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from core.errors import AppError
from tests.fakes.bcut import FakeBcut
from tests.fakes.openai_asr import FakeOpenAIASR
from videos.asr import cues_from_bcut_result, transcribe_audio, transcript_from_verbose_json
from videos.types import Cue

# The same speech in each service's shape; 1.001 s * 1000 is 1000.999…, so it checks rounding.
UTTERANCES = [
    {
        "start_time": 0,
        "end_time": 1001,
        "transcript": "大家好",
        "words": [
            {"label": "大", "start_time": 0, "end_time": 400},
            {"label": "家", "start_time": 400, "end_time": 800},
            {"label": "好", "start_time": 800, "end_time": 1001},
        ],
    },
    {"start_time": 2000, "end_time": 4350, "transcript": " 欢迎收看本期视频 ", "words": []},
]
SEGMENTS = [
    {"start": 0.0, "end": 1.001, "text": " 大家好"},
    {"start": 2.0, "end": 4.35, "text": " 欢迎收看本期视频"},
]
EXPECTED_CUES = [Cue(0, 1001, "大家好"), Cue(2000, 4350, "欢迎收看本期视频")]
PER_SIZE = 1000


@pytest.fixture(autouse=True)
def _fast_asr_settings(settings: Any) -> None:
    settings.BCUT_POLL_INTERVAL_SECONDS = 0.01
    settings.BCUT_DEADLINE_SECONDS = 10.0
    settings.ASR_RETRY_BASE_DELAY_SECONDS = 0.01
    settings.ASR_RETRY_ATTEMPTS = 3
    settings.ASR_API_KEY = "test-asr-key"
    settings.ASR_MODEL = "whisper-test"


@pytest.fixture
def bcut(fake_server: Any, settings: Any) -> FakeBcut:
    settings.ASR_BACKEND = "bcut"
    fake = FakeBcut(utterances=UTTERANCES, per_size=PER_SIZE)
    fake_server(fake.app, "BCUT_API_BASE")
    return fake


@pytest.fixture
def openai_asr(fake_server: Any, settings: Any) -> FakeOpenAIASR:
    settings.ASR_BACKEND = "openai"
    fake = FakeOpenAIASR(segments=SEGMENTS)
    fake_server(fake.app, ASR_BASE_URL="/v1")
    return fake


def audio_of(size: int) -> bytes:
    return os.urandom(size)


# --- both backends ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["bcut", "openai_asr"])
async def test_transcribe_audio_returns_asr_cues_in_milliseconds(backend: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(backend)
    transcript = await transcribe_audio(audio_of(2500))
    assert transcript.source == "asr"
    assert transcript.cues == EXPECTED_CUES


@pytest.mark.parametrize("backend", ["bcut", "openai_asr"])
async def test_empty_audio_is_refused_before_any_request(backend: str, request: pytest.FixtureRequest) -> None:
    fake = request.getfixturevalue(backend)
    with pytest.raises(AppError) as caught:
        await transcribe_audio(b"")
    assert (caught.value.code, caught.value.retryable) == ("asr_empty_audio", False)
    assert (fake.requests if backend == "bcut" else fake.uploads) == []


# --- bcut ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, PER_SIZE, PER_SIZE + 1, 3 * PER_SIZE - 7])
async def test_bcut_uploads_the_whole_audio_across_parts(bcut: FakeBcut, size: int) -> None:
    audio = audio_of(size)
    await transcribe_audio(audio)
    puts = [r for r in bcut.requests if r.method == "PUT"]
    assert len(puts) == -(-size // PER_SIZE)
    assert bcut.uploaded_bytes == audio
    assert all(len(part) <= PER_SIZE for part in bcut.parts.values())


async def test_bcut_flow_in_documented_order_with_json_encoding(bcut: FakeBcut) -> None:
    await transcribe_audio(audio_of(1500), filename="BV1xx411c7mD-p1.m4a")
    steps = [(r.method, r.path if r.method != "PUT" else "PUT") for r in bcut.requests]
    assert steps == [
        ("POST", "/resource/create"),
        ("PUT", "PUT"),
        ("PUT", "PUT"),
        ("POST", "/resource/create/complete"),
        ("POST", "/task"),
        ("GET", "/task/result"),
    ]
    create = bcut.requests_to("/resource/create")[0]
    assert create.encoding == "json"
    assert create.fields == {
        "type": 2,
        "name": "BV1xx411c7mD-p1.m4a",
        "size": 1500,
        "ResourceFileType": "m4a",
        "model_id": "8",
    }
    assert bcut.requests_to("/task")[0].fields["model_id"] == "8"
    assert bcut.requests_to("/task/result")[0].fields["model_id"] == "7"


@pytest.mark.parametrize("reject_status", [None, 400, 412])
async def test_bcut_falls_back_to_form_encoding_when_json_is_rejected(
    bcut: FakeBcut, reject_status: int | None
) -> None:
    bcut.reject_encodings, bcut.reject_status = ("json",), reject_status
    transcript = await transcribe_audio(audio_of(1200), filename="audio.mp3")
    assert transcript.cues == EXPECTED_CUES
    assert [r.encoding for r in bcut.requests_to("/resource/create")] == ["json", "form"]
    form_create = bcut.requests_to("/resource/create")[1].fields
    assert form_create == {
        "type": "2",
        "name": "audio.mp3",
        "size": "1200",
        "resource_file_type": "mp3",
        "model_id": "7",
    }
    # Once the form shape worked, it is used first for the rest of the job.
    assert [r.encoding for r in bcut.requests_to("/resource/create/complete")] == ["form"]
    assert bcut.requests_to("/task")[0].fields["model_id"] == "7"


async def test_bcut_needs_no_fallback_when_only_form_is_rejected(bcut: FakeBcut) -> None:
    bcut.reject_encodings = ("form",)
    await transcribe_audio(audio_of(10))
    assert [r.encoding for r in bcut.requests_to("/resource/create")] == ["json"]


@pytest.mark.parametrize("reject_status", [None, 412])
async def test_bcut_reports_when_every_encoding_is_rejected(bcut: FakeBcut, reject_status: int | None) -> None:
    bcut.reject_encodings, bcut.reject_status = ("json", "form"), reject_status
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(10))
    error = caught.value
    assert (error.code, error.retryable) == ("asr_api_changed", False)
    assert error.message("zh") == "必剪拒绝了两种请求格式（/resource/create），接口可能已变更"
    assert error.message("en").startswith("bcut rejected both request encodings on /resource/create;")
    # 2026: a refusal may be passing, so each of ASR_RETRY_ATTEMPTS fresh tries asks in both shapes.
    assert [r.encoding for r in bcut.requests] == ["json", "form"] * 3


@pytest.mark.parametrize("polls_before_done", [0, 1, 4])
async def test_bcut_polls_until_the_task_is_done(bcut: FakeBcut, polls_before_done: int) -> None:
    bcut.polls_before_done = polls_before_done
    transcript = await transcribe_audio(audio_of(100))
    assert transcript.cues == EXPECTED_CUES
    assert bcut.polls == polls_before_done + 1


async def test_bcut_failed_task_stops_polling_with_the_remark(bcut: FakeBcut) -> None:
    bcut.polls_before_done, bcut.fail_remark = 2, "音频解码失败"
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(100))
    error = caught.value
    assert (error.code, error.retryable) == ("asr_task_failed", False)
    assert error.message("zh") == "必剪语音识别失败：音频解码失败"
    assert error.message("en") == "bcut speech recognition failed: 音频解码失败"
    assert bcut.polls == 3


async def test_bcut_gives_up_at_the_deadline(bcut: FakeBcut, settings: Any) -> None:
    bcut.never_finish = True
    settings.BCUT_DEADLINE_SECONDS = 0.3
    started = time.monotonic()
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(100))
    assert time.monotonic() - started < 2
    error = caught.value
    assert (error.code, error.retryable) == ("asr_deadline", True)
    assert error.message("en") == "bcut speech recognition did not finish within 0.3 s; try again later"
    assert error.message("zh") == "必剪语音识别在 0.3 秒内没有完成，请稍后重试"
    assert bcut.polls >= 2


@pytest.mark.parametrize(
    ("filename", "name", "file_type"),
    [
        ("audio.m4a", "audio.m4a", "m4a"),
        ("30216.m4s", "30216.m4a", "m4a"),  # DASH audio goes up unchanged, named as m4a
        ("clip.MP3", "clip.mp3", "mp3"),
        ("speech.flac", "speech.flac", "flac"),
        ("noext", "noext.m4a", "m4a"),
    ],
)
async def test_bcut_names_the_upload_with_an_accepted_type(
    bcut: FakeBcut, filename: str, name: str, file_type: str
) -> None:
    await transcribe_audio(audio_of(10), filename=filename)
    fields = bcut.requests_to("/resource/create")[0].fields
    assert (fields["name"], fields["ResourceFileType"]) == (name, file_type)


@pytest.mark.parametrize("result_text", ["not json", json.dumps({"version": "1"}), json.dumps({"utterances": [{}]})])
async def test_bcut_malformed_result_is_an_asr_error(bcut: FakeBcut, result_text: str) -> None:
    bcut.result_text = result_text
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(10))
    assert (caught.value.code, caught.value.retryable) == ("asr_failed", True)
    assert caught.value.params == {"detail": "bcut task/result: unexpected reply"}


async def test_bcut_no_speech_gives_an_empty_transcript(bcut: FakeBcut) -> None:
    bcut.utterances = []
    transcript = await transcribe_audio(audio_of(10))
    assert (transcript.cues, transcript.source) == ([], "asr")


def test_bcut_result_cues_are_sorted_and_blank_ones_dropped() -> None:
    result = json.dumps(
        {
            "utterances": [
                {"start_time": 5000, "end_time": 6000, "transcript": "second"},
                {"start_time": 1000, "end_time": 900, "transcript": "first"},
                {"start_time": 7000, "end_time": 8000, "transcript": "   "},
            ]
        }
    )
    assert cues_from_bcut_result(result) == [Cue(1000, 1000, "first"), Cue(5000, 6000, "second")]


# --- OpenAI-compatible -------------------------------------------------------------------------------


async def test_openai_request_asks_for_verbose_json_segments(openai_asr: FakeOpenAIASR) -> None:
    audio = audio_of(3000)
    transcript = await transcribe_audio(audio, filename="30216.m4s")
    (upload,) = openai_asr.uploads
    assert upload.fields == {
        "model": ["whisper-test"],
        "response_format": ["verbose_json"],
        "timestamp_granularities[]": ["segment"],
    }
    assert (upload.filename, upload.content_type, upload.data) == ("30216.m4a", "audio/mp4", audio)
    assert upload.authorization == "Bearer test-asr-key"
    assert transcript.language == "chinese"


@pytest.mark.parametrize("failures", [[429], [429, 429], [500, 503]])
async def test_openai_retries_rate_limits_and_server_errors(openai_asr: FakeOpenAIASR, failures: list[int]) -> None:
    openai_asr.failures = failures
    transcript = await transcribe_audio(audio_of(10))
    assert transcript.cues == EXPECTED_CUES
    assert openai_asr.attempts == len(failures) + 1


async def test_openai_gives_up_after_the_configured_attempts(openai_asr: FakeOpenAIASR) -> None:
    openai_asr.failures = [429] * 10
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(10))
    error = caught.value
    assert (error.code, error.retryable) == ("asr_failed", True)
    assert error.params["detail"].startswith("HTTP 429: ")
    assert openai_asr.attempts == 3


async def test_openai_bad_key_fails_at_once(openai_asr: FakeOpenAIASR, settings: Any) -> None:
    settings.ASR_API_KEY = "wrong-key"
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(10))
    error = caught.value
    assert (error.code, error.retryable) == ("asr_key_rejected", False)
    assert "ASR_API_KEY" in error.message("en") and "Incorrect API key" in error.params["detail"]
    assert openai_asr.attempts == 1


async def test_openai_without_a_key_sends_no_authorization(openai_asr: FakeOpenAIASR, settings: Any) -> None:
    settings.ASR_API_KEY = ""
    openai_asr.api_key = ""
    await transcribe_audio(audio_of(10))
    assert openai_asr.uploads[0].authorization == ""


async def test_openai_plain_json_without_segments_or_text_is_an_error(openai_asr: FakeOpenAIASR) -> None:
    openai_asr.reply = {"task": "transcribe"}
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(10))
    assert (caught.value.code, caught.value.params) == ("asr_failed", {"detail": "no verbose_json with segments"})


async def test_unreachable_service_is_a_temporary_asr_error(settings: Any) -> None:
    settings.ASR_BACKEND = "openai"  # ASR_BASE_URL still points at the tests' closed port
    settings.ASR_BASE_URL = "http://127.0.0.1:9/v1"
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(10))
    assert (caught.value.code, caught.value.retryable) == ("asr_unreachable", True)
    assert caught.value.message("en") == "Cannot reach the speech recognition service; try again later"


async def test_openai_read_timeout_is_not_retried(openai_asr: FakeOpenAIASR, settings: Any) -> None:
    openai_asr.delay_seconds = 1.0
    settings.ASR_TIMEOUT_SECONDS = 0.2
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_of(10))
    assert (caught.value.code, caught.value.retryable) == ("asr_timeout", True)
    assert openai_asr.attempts == 1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"text": "hello", "duration": 2.5}, [Cue(0, 2500, "hello")]),
        (
            {"segments": [{"start": 3.0, "end": 4.005, "text": " b "}, {"start": 1.005, "end": 2.0, "text": "a"}]},
            [Cue(1005, 2000, "a"), Cue(3000, 4005, "b")],
        ),
    ],
)
def test_verbose_json_parsing(payload: dict[str, Any], expected: list[Cue]) -> None:
    assert transcript_from_verbose_json(payload).cues == expected


@pytest.mark.parametrize("payload", [[], {"segments": [{"start": "x", "end": 1, "text": "a"}]}, {"segments": [{}]}])
def test_verbose_json_malformed(payload: Any) -> None:
    with pytest.raises(AppError) as caught:
        transcript_from_verbose_json(payload)
    assert (caught.value.code, caught.value.params) == ("asr_failed", {"detail": "no verbose_json with segments"})
