"""A local stand-in for the bcut (必剪) ASR service, speaking the wire shapes in docs/bilibili-api.md §9.

    fake = FakeBcut(polls_before_done=2, per_size=1024)
    fake_server(fake.app, "BCUT_API_BASE")

Both request encodings are understood: JSON with CamelCase keys (model_id "8") and form-encoded
snake_case (model_id "7"). `reject_encodings` makes the server refuse one (or both) of them on resource/create
and resource/create/complete, the way the real server answered in 2025 (code -400) or with
`reject_status` (e.g. 412). Every request and every uploaded part is recorded.

As bcut behaves in 2026 (docs §14.6): `task_failures` / `result_failures` / `create_failures` list the
answers given, in order, before the real one on /task, /task/result and /resource/create: a code
(139201, -400, -500: HTTP 200 with that code) or an HTTP status (412). Each resource/create makes a new
upload with its own ids, and a task on an upload that already had one fails with 139201 (the
"follow-up task in the same session" report). `omit_result_while_running` answers polls of a running
task without `result` (and without `state` when set to "all").
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

CREATE_KEYS = {
    "json": ("type", "name", "size", "ResourceFileType", "model_id"),
    "form": ("type", "name", "size", "resource_file_type", "model_id"),
}
COMPLETE_KEYS = {
    "json": ("InBossKey", "ResourceId", "Etags", "UploadId", "model_id"),
    "form": ("in_boss_key", "resource_id", "etags", "upload_id", "model_id"),
}
RESOURCE_ID = "fake-resource-1"
UPLOAD_ID = "fake-upload-1"
TASK_ID = "asr546525728586388379"


@dataclass
class RecordedRequest:
    method: str
    path: str
    encoding: str  # json, form, query (GET) or raw (PUT)
    fields: dict[str, Any]
    body: bytes


@dataclass
class FakeBcut:
    utterances: list[dict[str, Any]] = field(default_factory=list)
    polls_before_done: int = 0  # polls answered "waiting"/"running" before the final state
    fail_remark: str | None = None  # end in state 3 with this remark instead of state 4
    never_finish: bool = False
    reject_encodings: tuple[str, ...] = ()  # "json" and/or "form"
    reject_status: int | None = None  # HTTP status for a rejection; None → HTTP 200 with code -400
    per_size: int = 4096
    result_text: str | None = None  # a raw `result` string instead of the utterances
    task_failures: list[int] = field(default_factory=list)
    result_failures: list[int] = field(default_factory=list)
    create_failures: list[int] = field(default_factory=list)
    omit_result_while_running: str = ""  # "" | "result" | "all"
    uploads_made: int = 0
    tasked_uploads: set[str] = field(default_factory=set)
    requests: list[RecordedRequest] = field(default_factory=list)
    parts: dict[int, bytes] = field(default_factory=dict)
    polls: int = 0
    declared_size: int = 0
    in_boss_key: str = ""

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/resource/create", self.create, methods=["POST"]),
                Route("/upload/{index:int}", self.upload, methods=["PUT"]),
                Route("/resource/create/complete", self.complete, methods=["POST"]),
                Route("/task", self.task, methods=["POST"]),
                Route("/task/result", self.result, methods=["GET"]),
            ]
        )

    # --- what tests look at ---------------------------------------------------------------------

    @property
    def uploaded_bytes(self) -> bytes:
        return b"".join(self.parts[index] for index in sorted(self.parts))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    # --- endpoints --------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        encoding, fields = await self._record(request)
        if failure := _scripted_failure(self.create_failures):
            return failure
        if rejection := self._rejection(encoding, fields, CREATE_KEYS, "CreateResourceReq"):
            return rejection
        self.declared_size = int(fields["size"])
        self.uploads_made += 1
        self.parts = {}
        file_type = fields[CREATE_KEYS[encoding][3]]
        self.in_boss_key = f"biz376761249775503627/AIA5049145987768{self.uploads_made:05d}.{str(file_type).upper()}"
        clips = max(1, math.ceil(self.declared_size / self.per_size))
        urls = [f"{request.url.scheme}://{request.url.netloc}/upload/{index}" for index in range(clips)]
        return _ok(
            {
                "resource_id": RESOURCE_ID,
                "title": fields["name"],
                "type": 2,
                "in_boss_key": self.in_boss_key,
                "size": self.declared_size,
                "upload_urls": urls,
                "upload_id": UPLOAD_ID,
                "per_size": self.per_size,
            }
        )

    async def upload(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(RecordedRequest("PUT", request.url.path, "raw", {}, body))
        index = request.path_params["index"]
        self.parts[index] = body
        return PlainTextResponse("", headers={"ETag": _etag(body)})

    async def complete(self, request: Request) -> Response:
        encoding, fields = await self._record(request)
        if rejection := self._rejection(encoding, fields, COMPLETE_KEYS, "CompleteResourceReq"):
            return rejection
        boss_key, resource_id, etags, upload_id, _ = (fields[key] for key in COMPLETE_KEYS[encoding])
        if (boss_key, resource_id, upload_id) != (self.in_boss_key, RESOURCE_ID, UPLOAD_ID):
            return _error(-400, "unknown upload")
        expected = ",".join(_etag(self.parts[index]) for index in sorted(self.parts))
        if etags != expected:
            return _error(-400, "etags do not match the uploaded parts")
        if len(self.uploaded_bytes) != self.declared_size:
            return _error(-400, "uploaded size differs from the declared size")
        return _ok({"resource_id": RESOURCE_ID, "download_url": self._download_url})

    async def task(self, request: Request) -> Response:
        encoding, fields = await self._record(request)
        if encoding != "json" or fields.get("resource") != self._download_url or "model_id" not in fields:
            return _error(-400, "bad task request")
        if failure := _scripted_failure(self.task_failures):
            return failure
        if self._download_url in self.tasked_uploads:
            return _error(139201, "任务创建失败")
        self.tasked_uploads.add(self._download_url)
        self.polls = 0
        return _ok({"resource": self._download_url, "result": "", "task_id": TASK_ID})

    async def result(self, request: Request) -> Response:
        _, fields = await self._record(request)
        if fields.get("task_id") != TASK_ID or fields.get("model_id") != "7":
            return _error(-400, "unknown task")
        if failure := _scripted_failure(self.result_failures):
            return failure
        self.polls += 1
        if self.never_finish or self.polls <= self.polls_before_done:
            state = 0 if self.polls == 1 else 1
            if self.omit_result_while_running == "all":
                return _ok({"task_id": TASK_ID})
            if self.omit_result_while_running == "result":
                return _ok({"task_id": TASK_ID, "state": state, "remark": "识别中"})
            return _ok({"task_id": TASK_ID, "state": state, "remark": "识别中", "result": ""})
        if self.fail_remark is not None:
            return _ok({"task_id": TASK_ID, "state": 3, "remark": self.fail_remark, "result": ""})
        result = self.result_text
        if result is None:
            result = json.dumps({"version": "fake-1", "utterances": self.utterances}, ensure_ascii=False)
        return _ok({"task_id": TASK_ID, "state": 4, "remark": "", "result": result})

    # --- helpers ------------------------------------------------------------------------------------

    @property
    def _download_url(self) -> str:
        return f"https://boss.bcut.fake/{self.in_boss_key}"

    async def _record(self, request: Request) -> tuple[str, dict[str, Any]]:
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        if request.method == "GET":
            encoding, fields = "query", dict(request.query_params)
        elif content_type.startswith("application/json"):
            encoding, fields = "json", json.loads(body)
        elif content_type.startswith("application/x-www-form-urlencoded"):
            encoding, fields = "form", dict(parse_qsl(body.decode()))
        else:
            encoding, fields = "raw", {}
        self.requests.append(RecordedRequest(request.method, request.url.path, encoding, fields, body))
        return encoding, fields

    def _rejection(
        self, encoding: str, fields: dict[str, Any], keys: dict[str, tuple[str, ...]], struct: str
    ) -> Response | None:
        if encoding in self.reject_encodings and self.reject_status is not None:
            return PlainTextResponse(f"{self.reject_status} Precondition Failed", status_code=self.reject_status)
        expected = keys.get(encoding, keys["json"])
        missing = [key for key in expected if key not in fields]
        if encoding in self.reject_encodings and not missing:
            missing = [expected[3]]  # the 2025 server claimed a field it could not read was missing
        if missing:
            # The real server's validation message (bcut-asr issue #12).
            name = missing[0]
            return _error(
                -400, f"Key: '{struct}.{name}' Error:Field validation for '{name}' failed on the 'required' tag"
            )
        return None


def _scripted_failure(failures: list[int]) -> Response | None:
    """The next scripted answer: an HTTP status (400-599) or a bcut code in an HTTP 200 reply."""
    if not failures:
        return None
    failure = failures.pop(0)
    if 400 <= failure < 600:
        return PlainTextResponse(f"{failure} Precondition Failed", status_code=failure)
    return _error(failure, {139201: "任务创建失败", -500: "服务器错误", -400: "请求错误"}.get(failure, "error"))


def _etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


def _ok(data: dict[str, Any]) -> JSONResponse:
    return JSONResponse({"code": 0, "message": "0", "ttl": 1, "data": data})


def _error(code: int, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, "ttl": 1, "data": None})
