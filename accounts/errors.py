"""The accounts app's kinds of error (see core.errors): sign-up, sign-in, invites and MFA."""

from __future__ import annotations

from core.errors import error_kind

# params: minutes (until the client may try again)
LOGIN_LOCKED = error_kind(
    "login_locked",
    "登录失败次数过多，请在 {minutes} 分钟后再试",
    "Too many failed sign-in attempts: try again in {minutes} minutes",
    status=429,
)
SIGNUP_CLOSED = error_kind(
    "signup_closed",
    "本站不开放注册，请联系管理员创建账号",
    "Sign-up is closed on this site: ask an admin for an account",
    status=403,
)
SIGNUP_INVITE_REQUIRED = error_kind(
    "signup_invite_required",
    "本站只接受邀请注册，邀请链接无效、已使用或已过期",
    "Sign-up needs an invitation: this invite link is missing, used or expired",
    status=403,
)
# params: limit (sign-ups per hour), minutes
SIGNUP_THROTTLED = error_kind(
    "signup_throttled",
    "这个网络地址注册太频繁（每小时最多 {limit} 个），请在 {minutes} 分钟后再试",
    "Too many sign-ups from this address (at most {limit} an hour): try again in {minutes} minutes",
    status=429,
)
MFA_CODE_INVALID = error_kind(
    "mfa_code_invalid",
    "验证码或恢复码不正确",
    "The authentication code or recovery code is not correct",
    status=400,
)
EMAIL_LINK_INVALID = error_kind(
    "email_link_invalid",
    "验证链接无效或已过期",
    "The verification link is invalid or expired",
    status=400,
)
