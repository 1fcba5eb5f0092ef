"""Admin for accounts: invites (with their links) and sign-ups; the admin's sign-in and the second
factor it asks of staff. Lockouts are django-axes' "access attempts" (delete one to lift it);
second factors are django-otp's TOTP and static devices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html

from accounts.forms import AdminSignInForm
from accounts.models import Invite, SignupRecord
from accounts.selectors import invite_link, user_has_mfa

_site_has_permission = admin.site.has_permission


def has_permission(request: HttpRequest) -> bool:
    """Staff reach the admin only verified by their second factor when they have one, and always
    when ADMIN_MFA_REQUIRED is set (django-otp's OTPAdminSite rule, made optional)."""
    if not _site_has_permission(request):
        return False
    user = request.user
    if settings.ADMIN_MFA_REQUIRED or user_has_mfa(user):
        return user.is_verified()
    return True


admin.site.has_permission = has_permission
admin.site.login_form = AdminSignInForm


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Add an invite, then send its link; it works once, until it expires."""

    list_display = ["__str__", "link", "created_by", "created_at", "expires_at", "used_at", "used_by"]
    readonly_fields = ["link", "created_by", "used_at", "used_by"]
    fields = ["note", "expires_at", "link", "created_by", "used_at", "used_by"]
    list_select_related = ["created_by", "used_by"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"expires_at": timezone.now() + timedelta(days=settings.INVITE_VALID_DAYS)}

    def save_model(self, request: HttpRequest, obj: Invite, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="link")
    def link(self, invite: Invite) -> str:
        if not invite.pk:
            return "-"
        return format_html("<code>{}</code>", invite_link(invite))


@admin.register(SignupRecord)
class SignupRecordAdmin(admin.ModelAdmin):
    list_display = ["created_at", "ip_address", "user"]
    search_fields = ["ip_address", "user__username"]
    list_select_related = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
