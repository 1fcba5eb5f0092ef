"""The forms of accounts' pages; every control has a label in both languages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import UserCreationForm
from django.utils.translation import gettext_lazy as _

from accounts.selectors import user_has_mfa


class SignUpForm(UserCreationForm):
    """Username and password twice; an e-mail address too (required when it must be verified)."""

    email = forms.EmailField(label=_("邮箱"), required=False, help_text=_("用于找回密码"))

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def __init__(self, *args: Any, email_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].required = email_required
        if email_required:
            self.fields["email"].help_text = _("我们会发一封确认邮件，确认后账号才能使用")


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("验证码"),
        max_length=32,
        help_text=_("身份验证器应用里的 6 位数字，或一个恢复码"),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "spellcheck": "false"}),
    )


class PasswordConfirmForm(forms.Form):
    """Re-enter the password before something that cannot be undone."""

    password = forms.CharField(
        label=_("当前密码"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("密码不正确"), code="password_incorrect")
        return password


class AdminSignInForm(AdminAuthenticationForm):
    """The admin's own sign-in: an account with a second factor must use the site's sign-in page,
    which asks for the code (so the admin page cannot skip it)."""

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if user_has_mfa(user):
            raise forms.ValidationError(
                _("这个账号开启了两步验证：请在网站的登录页（/accounts/login/）登录"), code="mfa_required"
            )
