"""The bcut (必剪) ASR client, as the service behaves in 2026 (docs/bilibili-api.md §9, §14.6).

Flow: resource/create → PUT parts → resource/create/complete → task → poll task/result. Each try is
a fresh upload with a fresh client: a follow-up task on an old upload can fail, and HTTP 412 or codes
139201 / -400 / -500 are answered now and then; such a try is repeated (ASR_RETRY_ATTEMPTS, backoff
from ASR_RETRY_BASE_DELAY_SECONDS) before `asr_bcut_exhausted`. A running task's reply may omit
`result` (and even `state`): that means "poll again".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from core.errors import AppError
from core.http import outbound_client, with_retries
from videos.asr_common import (
    asr_error,
    json_body,
    make_cue,
    request_timeout,
    retry_policy,
    send,
    sorted_cues,
    upload_name,
)
from videos.audio import audio_size, read_range
from videos.errors import ASR_API_CHANGED, ASR_BCUT_EXHAUSTED, ASR_DEADLINE, ASR_TASK_FAILED
from videos.types import Cue, Transcript

logger = logging.getLogger(__name__)

# --- bcut (必剪) ---------------------------------------------------------------------------------
# Flow (docs §9): resource/create → PUT parts → resource/create/complete → task → poll task/result.

BCUT = "必剪 (bcut)"
BCUT_DONE, BCUT_FAILED = 4, 3  # task states; 0 waiting and 1 running mean "poll again"
BCUT_RESULT_MODEL_ID = "7"  # both known clients poll with model_id=7
BCUT_REJECT_STATUSES = frozenset({400, 412, 415})
BCUT_REJECT_CODES = frozenset({-400, -412, 400, 412})
# 2026: "try again" answers that a fresh upload fixes (bcut-asr #18, BiliNote #433).
BCUT_RETRY_CODES = frozenset({139201, -500})


@dataclass(frozen=True)
class BcutEncoding:
    """One of the two request shapes seen in the wild; which one the server takes today is unverified."""

    name: str
    model_id: str
    json_body: bool
    file_type_key: str
    complete_keys: tuple[str, str, str, str]  # in_boss_key, resource_id, etags, upload_id

    def create_fields(self, name: str, size: int, audio_type: str) -> dict[str, Any]:
        return {"type": 2, "name": name, "size": size, self.file_type_key: audio_type, "model_id": self.model_id}

    def complete_fields(self, upload: BcutUpload, etags: list[str]) -> dict[str, Any]:
        boss_key, resource_key, etags_key, upload_key = self.complete_keys
        return {
            boss_key: upload.in_boss_key,
            resource_key: upload.resource_id,
            etags_key: ",".join(etags),
            upload_key: upload.upload_id,
            "model_id": self.model_id,
        }

    def task_fields(self, download_url: str) -> dict[str, Any]:
        return {"resource": download_url, "model_id": self.model_id}


# VideoCaptioner's JSON/CamelCase shape goes first: a 2025 report shows the form shape rejected with
# "CreateResourceReq.ResourceFileType ... required". bcut-asr's form/snake_case shape is the fallback.
JSON_ENCODING = BcutEncoding("json", "8", True, "ResourceFileType", ("InBossKey", "ResourceId", "Etags", "UploadId"))
FORM_ENCODING = BcutEncoding(
    "form", "7", False, "resource_file_type", ("in_boss_key", "resource_id", "etags", "upload_id")
)


@dataclass(frozen=True)
class BcutUpload:
    resource_id: str
    in_boss_key: str
    upload_id: str
    upload_urls: list[str]
    per_size: int


class _FreshUploadNeeded(Exception):
    """This try failed in a way a fresh upload may fix; `api_changed` is (path, rejections) when
    both request shapes were refused."""

    def __init__(self, detail: str, *, api_changed: tuple[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.api_changed = api_changed

    def final_error(self, attempts: int) -> AppError:
        if self.api_changed is not None:
            path, rejected = self.api_changed
            return AppError(ASR_API_CHANGED, path=path, rejected=rejected)
        return AppError(ASR_BCUT_EXHAUSTED, attempts=attempts, detail=self.detail)


class _EncodingRejected(Exception):
    """The server refused the request shape (HTTP 400/412 or code -400); the other shape may work."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def transcribe_with_bcut(audio: bytes | Path, filename: str) -> Transcript:
    """Transcribe with bcut: fresh uploads until one works, all within BCUT_DEADLINE_SECONDS."""
    deadline = float(settings.BCUT_DEADLINE_SECONDS)
    policy = retry_policy()
    encodings = [JSON_ENCODING, FORM_ENCODING]  # the shape the server took goes first, across tries
    try:
        async with asyncio.timeout(deadline):
            result = await with_retries(
                lambda: _one_try(audio, filename, encodings),
                policy=policy,
                is_retryable=lambda exc: isinstance(exc, _FreshUploadNeeded),
                what="bcut transcription",
            )
    except TimeoutError as exc:
        raise AppError(ASR_DEADLINE, seconds=f"{deadline:g}") from exc
    except _FreshUploadNeeded as exc:
        raise exc.final_error(policy.attempts) from exc
    return Transcript(cues=cues_from_bcut_result(result), source="asr")


async def _one_try(audio: bytes | Path, filename: str, encodings: list[BcutEncoding]) -> str | dict[str, Any]:
    async with outbound_client(timeout=request_timeout()) as client:
        client.headers["Cache-Control"] = "no-cache"  # with a browser UA, avoids 412 (docs §9)
        return await _BcutSession(client, encodings).run(audio, filename)


class _BcutSession:
    """One try: one upload and one task; remembers which request encoding the server accepted."""

    def __init__(self, client: httpx.AsyncClient, encodings: list[BcutEncoding]) -> None:
        self.client = client
        self.base = str(settings.BCUT_API_BASE).rstrip("/")
        self.encodings = encodings

    async def run(self, audio: bytes | Path, filename: str) -> str | dict[str, Any]:
        name, audio_type = upload_name(filename)
        upload = await self.create_resource(name, audio_size(audio), audio_type)
        etags = await self.upload_parts(upload, audio)
        download_url = await self.complete(upload, etags)
        task_id = await self.create_task(download_url)
        return await self.poll(task_id)

    async def create_resource(self, name: str, size: int, audio_type: str) -> BcutUpload:
        data = await self.post("/resource/create", lambda enc: enc.create_fields(name, size, audio_type))
        try:
            upload = BcutUpload(
                resource_id=str(data["resource_id"]),
                in_boss_key=str(data["in_boss_key"]),
                upload_id=str(data["upload_id"]),
                upload_urls=[str(url) for url in data["upload_urls"]],
                per_size=int(data["per_size"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _bcut_unexpected("resource/create") from exc
        if upload.per_size <= 0 or upload.per_size * len(upload.upload_urls) < size:
            raise asr_error("bcut's upload parts cannot hold the whole audio")
        return upload

    async def upload_parts(self, upload: BcutUpload, audio: bytes | Path) -> list[str]:
        """PUT each clip to its URL in order; the ETag of each reply goes into the commit."""
        etags = []
        for index, url in enumerate(upload.upload_urls):
            clip = read_range(audio, index * upload.per_size, upload.per_size)
            headers = {"Content-Type": "application/octet-stream"}
            response = await send(self.client, "PUT", url, content=clip, headers=headers)
            etag = response.headers.get("ETag", "")
            if response.status_code >= 400 or not etag:
                raise asr_error(f"uploading audio part {index + 1}: HTTP {response.status_code}")
            etags.append(etag)
        return etags

    async def complete(self, upload: BcutUpload, etags: list[str]) -> str:
        data = await self.post("/resource/create/complete", lambda enc: enc.complete_fields(upload, etags))
        return _bcut_field(data, "download_url", "resource/create/complete")

    async def create_task(self, download_url: str) -> str:
        # The task body is JSON in both encodings; only model_id differs.
        data = await self.post("/task", lambda enc: enc.task_fields(download_url), always_json=True)
        return _bcut_field(data, "task_id", "task")

    async def poll(self, task_id: str) -> str | dict[str, Any]:
        """Poll until done (4) or failed (3); the caller's deadline stops a task that never ends.

        A reply without `state` or `result` is a task still running (seen since 2025-11)."""
        interval = max(0.0, float(settings.BCUT_POLL_INTERVAL_SECONDS))
        params = {"model_id": BCUT_RESULT_MODEL_ID, "task_id": task_id}
        while True:
            response = await send(self.client, "GET", f"{self.base}/task/result", params=params)
            try:
                data = _bcut_reply(response, "task/result")
            except _EncodingRejected as exc:  # polling has one shape only: start afresh
                raise _FreshUploadNeeded(exc.detail) from exc
            state = data.get("state")
            if state == BCUT_DONE and data.get("result"):
                return data["result"]
            if state == BCUT_FAILED:
                remark = str(data.get("remark") or "")
                raise AppError(ASR_TASK_FAILED, remark=remark)
            logger.debug("bcut task %s state %s: %s", task_id, state, data.get("remark"))
            await asyncio.sleep(interval)

    async def post(
        self, path: str, fields_for: Callable[[BcutEncoding], dict[str, Any]], *, always_json: bool = False
    ) -> dict[str, Any]:
        """POST in the preferred encoding; when it is rejected, try the other and prefer that from now on."""
        rejected: list[str] = []
        for encoding in list(self.encodings):
            fields = fields_for(encoding)
            as_json = always_json or encoding.json_body
            body = {"json": fields} if as_json else {"data": {key: str(value) for key, value in fields.items()}}
            response = await send(self.client, "POST", f"{self.base}{path}", **body)
            try:
                data = _bcut_reply(response, path.lstrip("/"))
            except _EncodingRejected as exc:
                logger.info("bcut rejected the %s encoding on %s: %s", encoding.name, path, exc.detail)
                rejected.append(exc.detail)
                continue
            self.encodings.remove(encoding)
            self.encodings.insert(0, encoding)
            return data
        joined = "; ".join(rejected)
        raise _FreshUploadNeeded(f"{path}: {joined}", api_changed=(path, joined))


def _bcut_reply(response: httpx.Response, step: str) -> dict[str, Any]:
    """The `data` of a {code, message, data} reply; raises AppError (or _EncodingRejected)."""
    if response.status_code in BCUT_REJECT_STATUSES:
        raise _EncodingRejected(f"bcut rejected {step} (HTTP {response.status_code})")
    if response.status_code >= 400:
        raise asr_error(f"bcut {step}: HTTP {response.status_code}")
    body = json_body(response, BCUT)
    if not isinstance(body, dict):
        raise _bcut_unexpected(step)
    code, message = body.get("code"), str(body.get("message") or "")
    if code in BCUT_RETRY_CODES:
        raise _FreshUploadNeeded(f"{step}: code {code} {message}".strip())
    if code in BCUT_REJECT_CODES:
        raise _EncodingRejected(f"bcut rejected {step}: {message}")
    if code != 0:
        raise asr_error(f"bcut {step}: error {code} {message}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise _bcut_unexpected(step)
    return data


def _bcut_field(data: dict[str, Any], key: str, step: str) -> str:
    value = data.get(key)
    if not isinstance(value, str | int) or value == "":
        raise _bcut_unexpected(step)
    return str(value)


def _bcut_unexpected(step: str) -> AppError:
    return asr_error(f"bcut {step}: unexpected reply")


def cues_from_bcut_result(result: str | dict[str, Any]) -> list[Cue]:
    """Cues from a finished task's `result` (a JSON string of {"utterances": [...]}, times in ms).

    No speech gives empty utterances, hence an empty list.
    """
    try:
        payload = json.loads(result) if isinstance(result, str | bytes) else result
        utterances = payload["utterances"]
        return sorted_cues(
            [make_cue(int(item["start_time"]), int(item["end_time"]), str(item["transcript"])) for item in utterances]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise _bcut_unexpected("task/result") from exc
