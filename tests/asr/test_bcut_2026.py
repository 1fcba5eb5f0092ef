"""bcut as it behaved in 2026 (docs/bilibili-api.md §14.6): fresh uploads and retries on 412,
139201, -400 and -500, a clear error when every try fails, results omitted while running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.errors import AppError
from tests.asr.generated_audio import write_silence
from tests.fakes.bcut import FakeBcut
from videos.asr import transcribe_audio
from videos.types import Cue

UTTERANCES = [{"start_time": 0, "end_time": 1500, "transcript": "大家好"}]
EXPECTED = [Cue(0, 1500, "大家好")]


@pytest.fixture(autouse=True)
def _fast(settings: Any) -> None:
    settings.ASR_BACKEND = "bcut"
    settings.BCUT_POLL_INTERVAL_SECONDS = 0.01
    settings.BCUT_DEADLINE_SECONDS = 20.0
    settings.ASR_RETRY_BASE_DELAY_SECONDS = 0.01
    settings.ASR_RETRY_ATTEMPTS = 3


@pytest.fixture
def bcut(fake_server: Any) -> FakeBcut:
    fake = FakeBcut(utterances=UTTERANCES, per_size=4096, polls_before_done=1)
    fake_server(fake.app, "BCUT_API_BASE")
    return fake


@pytest.fixture(scope="module")
def audio_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_silence(tmp_path_factory.mktemp("bcut") / "silence.m4a", seconds=3)


async def test_one_139201_on_task_creation_is_survived(bcut: FakeBcut, audio_file: Path) -> None:
    bcut.task_failures = [139201]
    transcript = await transcribe_audio(audio_file)
    assert transcript.cues == EXPECTED


async def test_each_try_uploads_afresh(bcut: FakeBcut, audio_file: Path) -> None:
    bcut.task_failures = [139201, -500]
    await transcribe_audio(audio_file)
    assert bcut.uploads_made == 3
    assert len(bcut.tasked_uploads) == 1
    assert bcut.uploaded_bytes == audio_file.read_bytes()


@pytest.mark.parametrize("failure", [412, 139201, -400, -500])
async def test_a_failure_while_polling_starts_a_fresh_upload(bcut: FakeBcut, audio_file: Path, failure: int) -> None:
    bcut.result_failures = [failure]
    transcript = await transcribe_audio(audio_file)
    assert (transcript.cues, bcut.uploads_made) == (EXPECTED, 2)


@pytest.mark.parametrize("failure", [412, 139201, -400, -500])
async def test_a_failure_on_task_creation_is_retried(bcut: FakeBcut, audio_file: Path, failure: int) -> None:
    bcut.task_failures = [failure, failure]  # -400 and 412 are first tried in the other encoding
    transcript = await transcribe_audio(audio_file)
    assert transcript.cues == EXPECTED


async def test_a_failure_on_resource_creation_is_retried(bcut: FakeBcut, audio_file: Path) -> None:
    bcut.create_failures = [-500, 412, 412]
    transcript = await transcribe_audio(audio_file)
    assert transcript.cues == EXPECTED


async def test_every_try_failing_ends_in_a_clear_retryable_error(bcut: FakeBcut, audio_file: Path) -> None:
    bcut.task_failures = [139201] * 3
    with pytest.raises(AppError) as caught:
        await transcribe_audio(audio_file)
    error = caught.value
    assert (error.code, error.retryable, error.status) == ("asr_bcut_exhausted", True, 503)
    assert (
        error.message("en")
        == "bcut speech recognition still failed after 3 tries (task: code 139201 任务创建失败); try again later"
    )
    assert error.message("zh") == "必剪语音识别重试 3 次仍失败（task: code 139201 任务创建失败），请稍后再试"
    assert bcut.uploads_made == 3


async def test_a_second_task_on_the_same_upload_fails_in_the_fake(bcut: FakeBcut, audio_file: Path) -> None:
    """The fake's follow-up-task trap is real: two transcriptions in a row each upload afresh."""
    await transcribe_audio(audio_file)
    transcript = await transcribe_audio(audio_file)
    assert (transcript.cues, bcut.uploads_made, len(bcut.tasked_uploads)) == (EXPECTED, 2, 2)


@pytest.mark.parametrize("omitted", ["result", "all"])
async def test_a_running_task_without_result_is_polled_again(bcut: FakeBcut, audio_file: Path, omitted: str) -> None:
    bcut.omit_result_while_running, bcut.polls_before_done = omitted, 3
    transcript = await transcribe_audio(audio_file)
    assert (transcript.cues, bcut.polls, bcut.uploads_made) == (EXPECTED, 4, 1)


async def test_each_retry_is_logged_with_its_number(bcut: FakeBcut, audio_file: Path, caplog: Any) -> None:
    bcut.task_failures = [139201, 139201]
    with caplog.at_level("WARNING", logger="core.http"):
        await transcribe_audio(audio_file)
    messages = [record.getMessage() for record in caplog.records if "bcut transcription" in record.getMessage()]
    assert [message.split("; ")[-1].split(" in ")[0] for message in messages] == ["retry 1/2", "retry 2/2"]
