"""A local stand-in for passport.bilibili.com's QR login (docs/bilibili-api.md §14.5).

    passport = FakePassport()
    fake_server(passport.app, "BILIBILI_PASSPORT_BASE")

`qrcode/generate` gives a login URL and a 32-character key; `qrcode/poll?qrcode_key=` answers, in the
`{code: 0, data: {code, message, url, refresh_token, timestamp}}` shape, 86101 (not scanned) until a
test calls `scan(key)`, then 86090 (scanned, not confirmed) until `confirm(key)`, then 0 with the
login cookies as Set-Cookie headers (SESSDATA HttpOnly) and again as `data.url` query parameters.
`expire(key)` makes the key answer 86038. An unknown key also gets 86038, as the real server does.

The cookie refresh (bilibili-API-collect docs/login/cookie_refresh.md) is served too: `cookie/info`
(refresh: `needs_refresh`), `/correspond/1/{path}` on the same server (point BILIBILI_WWW_BASE at it;
the path must be 128 bytes of hex, as an RSA-1024 ciphertext is), `cookie/refresh` (checks csrf,
refresh_csrf and the refresh token, sets new cookies) and `confirm/refresh` (retires the old token).
Every request is recorded.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

REFRESH_CSRF = "fake0refresh0csrf0b6b3b1a9d1f0e2c"

QR_MESSAGES = {86101: "未扫码", 86090: "二维码已扫码未确认", 86038: "二维码已失效", 0: ""}
MID = 3_493_000_001


@dataclass
class FakeLogin:
    sessdata: str
    bili_jct: str
    refresh_token: str


@dataclass
class FakePassport:
    keys: dict[str, int] = field(default_factory=dict)  # qrcode_key → its current data.code
    logins: dict[str, FakeLogin] = field(default_factory=dict)  # qrcode_key → the login it gave
    requests: list[str] = field(default_factory=list)
    generate_failures: int = 0  # answer this many generate calls with HTTP 500
    needs_refresh: bool = False  # what cookie/info answers
    refreshes: int = 0
    confirmed_tokens: list[str] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/x/passport-login/web/qrcode/generate", self.generate),
                Route("/x/passport-login/web/qrcode/poll", self.poll),
                Route("/x/passport-login/web/cookie/info", self.cookie_info),
                Route("/correspond/1/{path}", self.correspond),
                Route("/x/passport-login/web/cookie/refresh", self.cookie_refresh, methods=["POST"]),
                Route("/x/passport-login/web/confirm/refresh", self.confirm_refresh, methods=["POST"]),
            ]
        )

    # --- what tests do ---------------------------------------------------------------------------

    @property
    def latest_key(self) -> str:
        return list(self.keys)[-1]

    def scan(self, key: str) -> None:
        self.keys[key] = 86090

    def confirm(self, key: str) -> None:
        self.keys[key] = 0

    def expire(self, key: str) -> None:
        self.keys[key] = 86038

    # --- endpoints ---------------------------------------------------------------------------------

    async def generate(self, request: Request) -> Response:
        self.requests.append(request.url.path)
        if self.generate_failures > 0:
            self.generate_failures -= 1
            return Response("upstream error", 500)
        key = secrets.token_hex(16)
        self.keys[key] = 86101
        url = (
            f"https://account.bilibili.com/h5/account-h5/auth/scan-web?navhide=1&callback=close&qrcode_key={key}&from="
        )
        return JSONResponse({"code": 0, "message": "0", "ttl": 1, "data": {"url": url, "qrcode_key": key}})

    async def poll(self, request: Request) -> Response:
        self.requests.append(request.url.path)
        key = request.query_params.get("qrcode_key", "")
        code = self.keys.get(key, 86038)
        data = {"url": "", "refresh_token": "", "timestamp": int(time.time() * 1000), "code": code}
        data["message"] = QR_MESSAGES[code]
        if code != 0:
            return JSONResponse({"code": 0, "message": "0", "ttl": 1, "data": data})
        login = self.logins.setdefault(key, _new_login())
        expires = int(time.time()) + 180 * 24 * 3600
        cookies = {
            "SESSDATA": login.sessdata,
            "bili_jct": login.bili_jct,
            "DedeUserID": str(MID),
            "DedeUserID__ckMd5": "2b0f1e7a3c4d5e6f",
            "sid": "fake0sid",
        }
        query = "&".join(f"{name}={value}" for name, value in cookies.items())
        data["url"] = (
            f"https://passport.biligame.com/x/passport-login/web/crossDomain?{query}&Expires={expires}&gourl=https%3A%2F%2Fwww.bilibili.com"
        )
        data["refresh_token"] = login.refresh_token
        response = JSONResponse({"code": 0, "message": "0", "ttl": 1, "data": data})
        for name, value in cookies.items():
            response.set_cookie(
                name, value, max_age=180 * 24 * 3600, path="/", domain=None, httponly=name == "SESSDATA"
            )
        return response

    # --- cookie refresh ----------------------------------------------------------------------------

    def _login_of(self, request: Request) -> FakeLogin | None:
        sessdata = request.cookies.get("SESSDATA")
        return next((login for login in self.logins.values() if login.sessdata == sessdata), None)

    async def cookie_info(self, request: Request) -> Response:
        self.requests.append(request.url.path)
        login = self._login_of(request)
        if login is None or request.query_params.get("csrf") != login.bili_jct:
            return JSONResponse({"code": -101, "message": "账号未登录", "ttl": 1, "data": None})
        data = {"refresh": self.needs_refresh, "timestamp": int(time.time() * 1000)}
        return JSONResponse({"code": 0, "message": "0", "ttl": 1, "data": data})

    async def correspond(self, request: Request) -> Response:
        self.requests.append("/correspond/1")
        path = request.path_params["path"]
        if self._login_of(request) is None or len(path) != 256 or any(c not in "0123456789abcdef" for c in path):
            return Response("<html>404</html>", 404, media_type="text/html")
        return Response(f'<html><body><div id="1-name">{REFRESH_CSRF}</div></body></html>', media_type="text/html")

    async def cookie_refresh(self, request: Request) -> Response:
        self.requests.append(request.url.path)
        form = dict(parse_qsl((await request.body()).decode()))
        login = self._login_of(request)
        if (
            login is None
            or form.get("csrf") != login.bili_jct
            or form.get("refresh_csrf") != REFRESH_CSRF
            or form.get("refresh_token") != login.refresh_token
            or form.get("source") != "main_web"
        ):
            return JSONResponse({"code": 86095, "message": "refresh_csrf 错误或 refresh_token 与 cookie 不匹配"})
        key = next(key for key, value in self.logins.items() if value is login)
        fresh = self.logins[key] = _new_login()
        self.refreshes += 1
        data = {"status": 0, "message": "", "refresh_token": fresh.refresh_token}
        response = JSONResponse({"code": 0, "message": "0", "ttl": 1, "data": data})
        for name, value in (("SESSDATA", fresh.sessdata), ("bili_jct", fresh.bili_jct)):
            response.set_cookie(name, value, path="/", httponly=name == "SESSDATA")
        return response

    async def confirm_refresh(self, request: Request) -> Response:
        self.requests.append(request.url.path)
        form = dict(parse_qsl((await request.body()).decode()))
        login = self._login_of(request)
        if login is None or form.get("csrf") != login.bili_jct:
            return JSONResponse({"code": -111, "message": "csrf 校验失败"})
        self.confirmed_tokens.append(str(form.get("refresh_token")))
        return JSONResponse({"code": 0, "message": "0", "ttl": 1})


def _new_login() -> FakeLogin:
    return FakeLogin(
        sessdata=f"{secrets.token_hex(4)}%2C{int(time.time()) + 15552000}%2C{secrets.token_hex(2)}*c1",
        bili_jct=secrets.token_hex(16),
        refresh_token=secrets.token_hex(16),
    )
