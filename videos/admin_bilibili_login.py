"""Admin page for the server's Bilibili login: a QR code (SVG by segno) to scan with the Bilibili
app, polled until it is scanned, confirmed or expired; the stored login's validity (via `nav`).

Registered from videos.admin. Only users who may change the login (superusers, or the
videos.change_bilibililogin permission) see it.
"""

from __future__ import annotations

import segno
from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.errors import AppError
from videos import bilibili_login
from videos.models import BilibiliLogin

SESSION_KEYS = "bilibili_qr_keys"
MAX_KEYS_IN_SESSION = 5


def state_messages() -> dict[str, str]:
    return {
        "waiting": _("等待扫码：请用哔哩哔哩 App 扫描二维码"),
        "scanned": _("已扫码：请在哔哩哔哩 App 中确认登录"),
        "expired": _("二维码已过期，请重新获取"),
        "success": _("登录成功"),
    }


def login_state_labels() -> dict[str, str]:
    return {
        "valid": _("有效"),
        "expired": _("已过期：请重新登录"),
        "unknown": _("未知：无法向哔哩哔哩确认"),
        "absent": _("未登录：以游客身份访问"),
        "fallback": _("使用环境变量 BILIBILI_SESSDATA（未检查）"),
    }


@admin.register(BilibiliLogin)
class BilibiliLoginAdmin(admin.ModelAdmin):
    """One page instead of a list: the login's state and the QR login."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("qr/start/", wrap(self.qr_start), name="videos_bilibililogin_qr_start"),
            path("qr/poll/", wrap(self.qr_poll), name="videos_bilibililogin_qr_poll"),
            path("remove/", wrap(self.remove), name="videos_bilibililogin_remove"),
            *super().get_urls(),
        ]

    def _require(self, request: HttpRequest) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        self._require(request)
        status = async_to_sync(bilibili_login.login_status)(force=True)
        context = {
            **self.admin_site.each_context(request),
            "title": _("哔哩哔哩登录"),
            "opts": self.model._meta,
            "status": status,
            "state_label": login_state_labels().get(status["state"], status["state"]),
            "start_url": reverse("admin:videos_bilibililogin_qr_start"),
            "poll_url": reverse("admin:videos_bilibililogin_qr_poll"),
            "remove_url": reverse("admin:videos_bilibililogin_remove"),
        }
        return TemplateResponse(request, "admin/videos/bilibili_login.html", context)

    @staticmethod
    def _error(exc: AppError) -> JsonResponse:
        return JsonResponse({"state": "error", "message": exc.message()}, status=exc.status)

    def qr_start(self, request: HttpRequest) -> JsonResponse:
        self._require(request)
        return require_POST(self._qr_start)(request)

    def _qr_start(self, request: HttpRequest) -> JsonResponse:
        try:
            code = async_to_sync(bilibili_login.qr_generate)()
        except AppError as exc:
            return self._error(exc)
        keys = [*request.session.get(SESSION_KEYS, []), code.key][-MAX_KEYS_IN_SESSION:]
        request.session[SESSION_KEYS] = keys
        svg = segno.make(code.url, error="m").svg_inline(scale=5, title=_("哔哩哔哩登录二维码"))
        return JsonResponse({"key": code.key, "svg": svg, "state": "waiting", "message": state_messages()["waiting"]})

    def qr_poll(self, request: HttpRequest) -> JsonResponse:
        self._require(request)
        return require_GET(self._qr_poll)(request)

    def _qr_poll(self, request: HttpRequest) -> JsonResponse:
        key = request.GET.get("key", "")
        if key not in request.session.get(SESSION_KEYS, []):
            return JsonResponse({"state": "error", "message": _("未知的二维码，请重新获取")}, status=400)
        try:
            poll = async_to_sync(bilibili_login.qr_poll)(key)
            uname = self._store(poll) if poll.state == "success" else ""
        except AppError as exc:
            return self._error(exc)
        message = state_messages()[poll.state]
        if uname:
            message = f"{message}: {uname}"
        return JsonResponse({"state": poll.state, "message": message})

    @staticmethod
    def _store(poll: bilibili_login.QrPoll) -> str:
        """Store the new login (checked with nav first); the account's name."""
        try:
            nav = async_to_sync(bilibili_login.nav_check)(poll.cookies)
        except AppError:
            nav = None
        bilibili_login.bilibili_login_store(cookies=poll.cookies, refresh_token=poll.refresh_token, nav=nav)
        return nav.uname if nav else ""

    def remove(self, request: HttpRequest) -> HttpResponse:
        self._require(request)
        return require_POST(self._remove)(request)

    def _remove(self, request: HttpRequest) -> HttpResponse:
        bilibili_login.bilibili_login_remove()
        self.message_user(request, _("已删除保存的哔哩哔哩登录"), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:videos_bilibililogin_changelist"))
