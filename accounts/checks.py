"""System checks: open sign-up on a production site, and staff without a required second factor."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=False)
def signup_mode_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """accounts.W001: anyone may sign up (and spend the site's LLM budget) on a DEBUG=false site."""
    if settings.SIGNUP_MODE == "open" and not settings.DEBUG:
        return [
            Warning(
                "SIGNUP_MODE=open on a site with DEBUG=false: anyone can create accounts and spend "
                "the site's LLM budget.",
                hint="Set SIGNUP_MODE=invite or closed, or keep open with SITE_DAILY_TOKEN_BUDGET and "
                "QUOTA_NEW_ACCOUNT_DAILY_TOKENS set.",
                id="accounts.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def admin_mfa_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """accounts.W002 (with --deploy): staff may reach the admin with a password alone."""
    if not settings.ADMIN_MFA_REQUIRED:
        return [
            Warning(
                "ADMIN_MFA_REQUIRED is off: staff can use the admin with a password alone.",
                hint="Set ADMIN_MFA_REQUIRED=true once each admin has set up a second factor at /accounts/mfa/.",
                id="accounts.W002",
            )
        ]
    return []
