"""Accounts' pages: sign-up, sign-in (with a second factor), MFA, and account care.

Password change and reset are Django's own views (templates in templates/registration/); the
lockout page after too many failed sign-ins comes from accounts.throttle (django-axes).
"""

from __future__ import annotations

import time
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from django.contrib import messages
from django.contrib.auth import get_user_model, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts import mfa
from accounts.client import client_ip
from accounts.forms import CodeForm, PasswordConfirmForm, SignUpForm
from accounts.selectors import mfa_required_for, user_has_mfa
from accounts.services import (
    SignUp,
    account_delete,
    account_sign_up,
    email_verification_confirm,
    email_verification_on,
    email_verification_send,
    sessions_end_all,
    signup_allowed,
)
from accounts.throttle import lockout_response
from core.errors import AppError

PENDING_SIGN_IN = "accounts_pending_sign_in"
PENDING_SECONDS = 300
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _refused(request: HttpRequest, exc: AppError, template: str) -> HttpResponse:
    response = render(request, template, {"refused": exc.message(), "code": exc.code}, status=exc.status)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Sign-up as SIGNUP_MODE allows: open (throttled per address), invite (?invite=…) or closed."""
    if request.user.is_authenticated:
        return redirect("home")
    invite = request.POST.get("invite") or request.GET.get("invite", "")
    ip_address = client_ip(request)
    try:
        signup_allowed(ip_address=ip_address, invite_code=invite)
    except AppError as exc:
        return _refused(request, exc, "registration/signup.html")
    form = SignUpForm(request.POST or None, email_required=email_verification_on())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        order = SignUp(data["username"], data["password1"], data.get("email", ""), ip_address, invite)
        try:
            user = account_sign_up(signup=order)
        except AppError as exc:
            return _refused(request, exc, "registration/signup.html")
        if not user.is_active:
            email_verification_send(user=user, base_url=request.build_absolute_uri("/").rstrip("/"))
            return render(request, "accounts/verify_sent.html", {"email": user.email})
        login(request, user, backend=MODEL_BACKEND)
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form, "invite": invite})


class SignInView(LoginView):
    """The password step; an account with a second factor goes on to `login_verify`."""

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if user_has_mfa(user):
            self.request.session[PENDING_SIGN_IN] = {
                "user": user.pk,
                "backend": user.backend,
                "next": self.get_success_url(),
                "at": time.time(),
            }
            return redirect("login_verify")
        response = super().form_valid(form)
        if mfa_required_for(user):
            messages.info(self.request, _("管理员账号需要两步验证：请先设置身份验证器"))
            return redirect("mfa")
        return response


@require_http_methods(["GET", "POST"])
def login_verify(request: HttpRequest) -> HttpResponse:
    """The second step: a TOTP code or a recovery code. Failures count like failed passwords."""
    pending = request.session.get(PENDING_SIGN_IN)
    user = None
    if pending and time.time() - pending["at"] < PENDING_SECONDS:
        user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is None:
        messages.error(request, _("登录已超时，请重新输入密码"))
        return redirect("login")
    credentials = {"username": user.get_username()}
    if AxesProxyHandler.is_locked(request, credentials):
        return lockout_response(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = mfa.mfa_verify(user=user, code=form.cleaned_data["code"])
        except AppError as exc:
            user_login_failed.send(sender=__name__, credentials=credentials, request=request)
            if getattr(request, "axes_locked_out", False):
                return lockout_response(request)
            form.add_error("code", exc.message())
        else:
            del request.session[PENDING_SIGN_IN]
            login(request, user, backend=pending["backend"])
            otp_login(request, device)
            return redirect(pending["next"])
    return render(request, "accounts/login_verify.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def mfa_page(request: HttpRequest) -> HttpResponse:
    """Turn the TOTP second factor on (QR code, then one code), renew recovery codes, or turn it off."""
    user = request.user
    action = request.POST.get("action", "")
    code_form = CodeForm(request.POST if action == "confirm" else None)
    password_form = PasswordConfirmForm(request.POST if action == "disable" else None, user=user)
    if action == "start":
        mfa.totp_start(user=user)
        return redirect("mfa")
    if action == "confirm" and code_form.is_valid():
        try:
            codes = mfa.totp_confirm(user=user, code=code_form.cleaned_data["code"])
        except AppError as exc:
            code_form.add_error("code", exc.message())
        else:
            otp_login(request, mfa.totp_confirmed(user=user))
            return render(request, "accounts/recovery_codes.html", {"codes": codes})
    if action == "recovery" and user_has_mfa(user) and user.is_verified():
        return render(request, "accounts/recovery_codes.html", {"codes": mfa.recovery_codes_renew(user=user)})
    if action == "disable" and password_form.is_valid():
        mfa.mfa_disable(user=user)
        messages.success(request, _("两步验证已关闭"))
        return redirect("mfa")
    pending = None if user_has_mfa(user) else mfa.totp_pending(user=user)
    context = {
        "enabled": user_has_mfa(user),
        "verified": user.is_verified(),
        "required": mfa_required_for(user),
        "pending": pending,
        "qr_svg": mfa.totp_qr_svg(pending) if pending else "",
        "secret": mfa.totp_secret(pending) if pending else "",
        "recovery_left": mfa.recovery_codes_left(user=user),
        "code_form": code_form,
        "password_form": password_form,
    }
    return render(request, "accounts/mfa.html", context, status=400 if request.method == "POST" else 200)


@login_required
def security(request: HttpRequest) -> HttpResponse:
    """Account care: password, second factor, sessions, deletion."""
    return render(request, "accounts/security.html", {"mfa_enabled": user_has_mfa(request.user)})


@login_required
@require_POST
def sessions_end(request: HttpRequest) -> HttpResponse:
    """Sign out of every session of this account, this one included."""
    sessions_end_all(user=request.user)
    logout(request)
    messages.success(request, _("已退出所有设备上的登录"))
    return redirect("login")


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    """Delete my account, my conversations and my API tokens, after my password."""
    form = PasswordConfirmForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        account_delete(user=request.user)
        logout(request)
        messages.success(request, _("账号已删除"))
        return redirect("home")
    return render(request, "accounts/delete.html", {"form": form}, status=400 if form.errors else 200)


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the verification mail: activates the account and signs it in."""
    user = email_verification_confirm(token=token)  # AppError email_link_invalid: the error page
    login(request, user, backend=MODEL_BACKEND)
    messages.success(request, _("邮箱已确认，欢迎使用 ChatBili"))
    return redirect("home")
