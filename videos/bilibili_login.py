"""The server's Bilibili login: QR login on passport.bilibili.com, cookies stored encrypted, `nav` checks.

Flow (docs/bilibili-api.md §14.5): `qr_generate` gives a login URL (shown as a QR code in the admin)
and a key; `qr_poll(key)` answers waiting (86101), scanned (86090), expired (86038) or success (0),
and on success the reply's Set-Cookie (and `data.url`'s parameters) carry SESSDATA, bili_jct,
DedeUserID, DedeUserID__ckMd5 and sid. They are stored encrypted (videos.secrets, one row of
videos.models.BilibiliLogin) and sent by videos.bilibili.BilibiliClient, with BILIBILI_SESSDATA as
the fallback when there is no stored login.

`login_status` says whether the login still works by asking `x/web-interface/nav` (isLogin, or code
-101 once expired), at most every BILIBILI_LOGIN_CHECK_SECONDS. A working login is then refreshed when
Bilibili asks for it (`cookie/info` says refresh: the flow of bilibili-API-collect's
docs/login/cookie_refresh.md, in `cookies_refresh`). An expired login cannot be refreshed: it is
reported (admin, /healthz, a warning in the log) until someone logs in again by QR.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from asgiref.sync import sync_to_async
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import AppError
from core.http import BROWSER_USER_AGENT, outbound_client
from videos.errors import BILIBILI_LOGIN_FAILED
from videos.models import BilibiliLogin
from videos.secrets import decrypt_json, encrypt_json

logger = logging.getLogger(__name__)

HEADERS = {
    "User-Agent": BROWSER_USER_AGENT,
    "Referer": "https://www.bilibili.com/",
    "Origin": "https://www.bilibili.com",
}
LOGIN_COOKIES = ("SESSDATA", "bili_jct", "DedeUserID", "DedeUserID__ckMd5", "sid")
QR_STATES = {86101: "waiting", 86090: "scanned", 86038: "expired", 0: "success"}
NAV_NOT_LOGGED_IN = -101
NAV_TIMEOUT_SECONDS = 5.0
# Bilibili's public key for the cookie refresh's CorrespondPath (bilibili-API-collect, cookie_refresh.md).
CORRESPOND_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDLgd2OAkcGVtoE3ThUREbio0Eg
Uc/prcajMKXvkCKFCWhJYJcLkcM2DKKcSeFpD/j6Boy538YXnR6VhcuUJOhH2x71
nzPjfdTcqMz7djHum0qSZA0AyCBDABUqCrfNgCiJ00Ra7GmRj+YCK1NJEuewlb40
JNrRuoEUXpabUzGB8QIDAQAB
-----END PUBLIC KEY-----"""
REFRESH_CSRF = re.compile(r'<div id="1-name">([^<]+)</div>')


@dataclass(frozen=True)
class QrCode:
    url: str  # what the QR code encodes
    key: str  # qrcode_key, valid for 180 s


@dataclass(frozen=True)
class QrPoll:
    state: str  # waiting | scanned | expired | success
    cookies: dict[str, str] = field(default_factory=dict, repr=False)
    refresh_token: str = field(default="", repr=False)


@dataclass(frozen=True)
class NavAnswer:
    logged_in: bool
    mid: int | None = None
    uname: str = ""


# --- passport.bilibili.com -------------------------------------------------------------------------


def _passport(path: str) -> str:
    return f"{str(settings.BILIBILI_PASSPORT_BASE).rstrip('/')}/x/passport-login/web/{path}"


async def _passport_get(path: str, params: dict[str, str] | None = None) -> tuple[dict[str, Any], httpx.Response]:
    """The `data` of a passport reply (outer code 0) and the reply itself; AppError otherwise."""
    try:
        async with outbound_client(timeout=float(settings.BILIBILI_TIMEOUT_SECONDS), headers=HEADERS) as client:
            response = await client.get(_passport(f"qrcode/{path}"), params=params)
    except httpx.HTTPError as exc:
        raise AppError(BILIBILI_LOGIN_FAILED, detail=f"passport {path}: {type(exc).__name__}") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    data = body.get("data") if isinstance(body, dict) else None
    if response.status_code != 200 or body.get("code") != 0 or not isinstance(data, dict):
        code = body.get("code") if isinstance(body, dict) else None
        raise AppError(BILIBILI_LOGIN_FAILED, detail=f"passport {path}: HTTP {response.status_code}, code {code}")
    return data, response


async def qr_generate() -> QrCode:
    """A new login QR code: its URL and key."""
    data, _ = await _passport_get("generate")
    url, key = data.get("url"), data.get("qrcode_key")
    if not isinstance(url, str) or not isinstance(key, str) or not url or not key:
        raise AppError(BILIBILI_LOGIN_FAILED, detail="passport generate: no url or qrcode_key")
    return QrCode(url=url, key=key)


async def qr_poll(key: str) -> QrPoll:
    """Where the login of QR `key` stands; on success, with the cookies and the refresh token."""
    data, response = await _passport_get("poll", {"qrcode_key": key})
    state = QR_STATES.get(data.get("code"))  # type: ignore[arg-type]
    if state is None:
        raise AppError(BILIBILI_LOGIN_FAILED, detail=f"passport poll: code {data.get('code')}")
    if state != "success":
        return QrPoll(state)
    cookies = _cookies_of(response, str(data.get("url") or ""))
    if not cookies.get("SESSDATA"):
        raise AppError(BILIBILI_LOGIN_FAILED, detail="passport poll: success without SESSDATA")
    return QrPoll(state, cookies=cookies, refresh_token=str(data.get("refresh_token") or ""))


def _cookies_of(response: httpx.Response, url: str) -> dict[str, str]:
    """The login cookies from Set-Cookie, completed by `data.url`'s query (kept as sent, encoded)."""
    from_url = {}
    for pair in url.partition("?")[2].split("&"):
        name, _, value = pair.partition("=")
        if name in LOGIN_COOKIES and value:
            from_url[name] = value
    from_header = {name: response.cookies[name] for name in LOGIN_COOKIES if response.cookies.get(name)}
    return {**from_url, **from_header}


# --- cookie refresh (passport cookie/info → www correspond → cookie/refresh → confirm/refresh) -----------


def correspond_path(timestamp_ms: int) -> str:
    """RSA-OAEP (SHA-256) of "refresh_<timestamp>" under Bilibili's key, as hex."""
    key = serialization.load_pem_public_key(CORRESPOND_PUBLIC_KEY)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return key.encrypt(f"refresh_{timestamp_ms}".encode(), oaep).hex()  # type: ignore[union-attr]


def _envelope_data(response: httpx.Response, step: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("code") != 0:
        code = body.get("code") if isinstance(body, dict) else None
        raise AppError(BILIBILI_LOGIN_FAILED, detail=f"{step}: HTTP {response.status_code}, code {code}")
    return body.get("data") if isinstance(body.get("data"), dict) else {}


async def cookies_refresh(cookies: dict[str, str], refresh_token: str) -> tuple[dict[str, str], str] | None:
    """New (cookies, refresh token) when Bilibili asks for a refresh, else None. AppError on failure."""
    csrf = cookies.get("bili_jct", "")
    timeout = float(settings.BILIBILI_TIMEOUT_SECONDS)
    try:
        async with outbound_client(timeout=timeout, headers=HEADERS, cookies=cookies) as client:
            info = _envelope_data(await client.get(_passport("cookie/info"), params={"csrf": csrf}), "cookie/info")
            if not info.get("refresh"):
                return None
            path = correspond_path(int(info.get("timestamp") or time.time() * 1000))
            page = await client.get(f"{str(settings.BILIBILI_WWW_BASE).rstrip('/')}/correspond/1/{path}")
            match = REFRESH_CSRF.search(page.text)
            if page.status_code != 200 or match is None:
                raise AppError(BILIBILI_LOGIN_FAILED, detail=f"correspond: HTTP {page.status_code}, no refresh_csrf")
            form = {"csrf": csrf, "refresh_csrf": match.group(1), "source": "main_web", "refresh_token": refresh_token}
            response = await client.post(_passport("cookie/refresh"), data=form)
            data = _envelope_data(response, "cookie/refresh")
            fresh = {
                **cookies,
                **{name: response.cookies[name] for name in LOGIN_COOKIES if response.cookies.get(name)},
            }
            confirm = {"csrf": fresh.get("bili_jct", ""), "refresh_token": refresh_token}
            client.cookies = httpx.Cookies(fresh)
            _envelope_data(await client.post(_passport("confirm/refresh"), data=confirm), "confirm/refresh")
    except httpx.HTTPError as exc:
        raise AppError(BILIBILI_LOGIN_FAILED, detail=f"cookie refresh: {type(exc).__name__}") from exc
    if fresh.get("SESSDATA") == cookies.get("SESSDATA"):
        raise AppError(BILIBILI_LOGIN_FAILED, detail="cookie/refresh: no new SESSDATA")
    return fresh, str(data.get("refresh_token") or "")


# --- api.bilibili.com nav ----------------------------------------------------------------------------


async def nav_check(cookies: dict[str, str]) -> NavAnswer:
    """Ask `nav` whether these cookies are logged in. AppError when nav cannot be asked."""
    url = f"{str(settings.BILIBILI_API_BASE).rstrip('/')}/x/web-interface/nav"
    try:
        async with outbound_client(timeout=NAV_TIMEOUT_SECONDS, headers=HEADERS, cookies=cookies) as client:
            response = await client.get(url)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise AppError(BILIBILI_LOGIN_FAILED, detail=f"nav: {type(exc).__name__}") from exc
    code = body.get("code") if isinstance(body, dict) else None
    data = body.get("data") if isinstance(body, dict) else None
    if code == NAV_NOT_LOGGED_IN:
        return NavAnswer(logged_in=False)
    if code != 0 or not isinstance(data, dict):
        raise AppError(BILIBILI_LOGIN_FAILED, detail=f"nav: HTTP {response.status_code}, code {code}")
    mid = data.get("mid")
    return NavAnswer(bool(data.get("isLogin")), mid if isinstance(mid, int) else None, str(data.get("uname") or ""))


# --- the stored login: write, read, check -------------------------------------------------------------


def bilibili_login_store(*, cookies: dict[str, str], refresh_token: str, nav: NavAnswer | None) -> BilibiliLogin:
    """Replace the stored login with these cookies (encrypted)."""
    with transaction.atomic():
        BilibiliLogin.objects.all().delete()
        return BilibiliLogin.objects.create(
            cookies_encrypted=encrypt_json({name: cookies[name] for name in LOGIN_COOKIES if name in cookies}),
            refresh_token_encrypted=encrypt_json(refresh_token) if refresh_token else "",
            mid=nav.mid if nav else None,
            uname=nav.uname if nav else "",
            state=_state_of(nav),
            checked_at=timezone.now() if nav else None,
        )


def bilibili_login_refreshed(*, login_id: int, cookies: dict[str, str], refresh_token: str) -> None:
    """Keep the refreshed cookies and refresh token of the stored login (encrypted)."""
    BilibiliLogin.objects.filter(pk=login_id).update(
        cookies_encrypted=encrypt_json({name: cookies[name] for name in LOGIN_COOKIES if name in cookies}),
        refresh_token_encrypted=encrypt_json(refresh_token) if refresh_token else "",
    )


def bilibili_login_refresh_token(login: BilibiliLogin) -> str:
    if not login.refresh_token_encrypted:
        return ""
    try:
        return str(decrypt_json(login.refresh_token_encrypted))
    except AppError:
        return ""


def bilibili_login_remove() -> None:
    BilibiliLogin.objects.all().delete()


def bilibili_login_current() -> BilibiliLogin | None:
    return BilibiliLogin.objects.order_by("-logged_in_at").first()


def bilibili_login_cookies() -> dict[str, str]:
    """The stored login's cookies ({} when there is none or it cannot be decrypted)."""
    login = bilibili_login_current()
    if login is None:
        return {}
    try:
        cookies = decrypt_json(login.cookies_encrypted)
    except AppError as exc:
        logger.warning("The stored Bilibili login is unusable: %s", exc.message("en"))
        return {}
    return {str(name): str(value) for name, value in cookies.items()} if isinstance(cookies, dict) else {}


async def request_cookies() -> dict[str, str]:
    """Cookies for requests to Bilibili: the stored login's, else {"SESSDATA": BILIBILI_SESSDATA}, else {}.

    A stored login that cannot be read (database trouble) does not stop the caller: the fallback is used.
    """
    try:
        cookies = await sync_to_async(bilibili_login_cookies)()
    except Exception as exc:  # noqa: BLE001 - the fallback below is always usable
        logger.warning("The stored Bilibili login could not be read (%s); using BILIBILI_SESSDATA", type(exc).__name__)
        cookies = {}
    if cookies.get("SESSDATA"):
        return cookies
    return {"SESSDATA": settings.BILIBILI_SESSDATA} if settings.BILIBILI_SESSDATA else {}


def _state_of(nav: NavAnswer | None) -> str:
    if nav is None:
        return BilibiliLogin.State.UNKNOWN
    return BilibiliLogin.State.VALID if nav.logged_in else BilibiliLogin.State.EXPIRED


async def login_status(*, force: bool = False) -> dict[str, Any]:
    """{"state": absent | fallback | valid | expired | unknown, ...} of the login requests use.

    The stored login is checked with `nav` when `force` or when its last check is older than
    BILIBILI_LOGIN_CHECK_SECONDS; BILIBILI_SESSDATA alone is reported as "fallback" unchecked.
    """
    login = await sync_to_async(bilibili_login_current)()
    if login is None:
        return {"state": "fallback" if settings.BILIBILI_SESSDATA else "absent"}
    max_age = timedelta(seconds=float(settings.BILIBILI_LOGIN_CHECK_SECONDS))
    if force or login.checked_at is None or timezone.now() - login.checked_at >= max_age:
        login = await _recheck(login)
    checked_at = login.checked_at.isoformat() if login.checked_at else None
    return {"state": login.state, "uname": login.uname, "mid": login.mid, "checked_at": checked_at}


async def _recheck(login: BilibiliLogin) -> BilibiliLogin:
    cookies = await sync_to_async(bilibili_login_cookies)()
    try:
        nav = await nav_check(cookies) if cookies else NavAnswer(logged_in=False)
    except AppError as exc:
        logger.warning("Could not check the stored Bilibili login: %s", exc.message("en"))
        nav = None
    state = _state_of(nav)
    if state == BilibiliLogin.State.EXPIRED and login.state != state:
        logger.warning("The stored Bilibili login has expired: log in again by QR in the admin")
    fields: dict[str, Any] = {"state": state, "checked_at": timezone.now()}
    if nav is not None and nav.logged_in:
        fields.update(mid=nav.mid, uname=nav.uname)
    await BilibiliLogin.objects.filter(pk=login.pk).aupdate(**fields)
    if nav is not None and nav.logged_in:
        await _refresh_if_asked(login, cookies)
    return await BilibiliLogin.objects.aget(pk=login.pk)


async def _refresh_if_asked(login: BilibiliLogin, cookies: dict[str, str]) -> None:
    """Refresh a working login when Bilibili asks for it; a failure is only logged (it still works)."""
    refresh_token = bilibili_login_refresh_token(login)
    if not refresh_token:
        return
    try:
        refreshed = await cookies_refresh(cookies, refresh_token)
    except AppError as exc:
        logger.warning("Could not refresh the stored Bilibili login: %s", exc.message("en"))
        return
    if refreshed is not None:
        fresh, new_token = refreshed
        await sync_to_async(bilibili_login_refreshed)(login_id=login.pk, cookies=fresh, refresh_token=new_token)
        logger.info("The stored Bilibili login was refreshed")
