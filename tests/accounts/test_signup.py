"""Sign-up in each SIGNUP_MODE: open (throttled per client address), invite, closed; the first
account from the command line; the system check; e-mail verification; the new accounts' quota."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.checks import signup_mode_check
from accounts.models import Invite
from accounts.services import invite_create
from chat.models import UserQuota

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-pass-phrase-9"


def sign_up(client: Client, username: str, **extra: str):
    form = {"username": username, "password1": PASSWORD, "password2": PASSWORD, **extra}
    return client.post("/accounts/signup/", form)


def test_open_mode_lets_at_most_three_of_twenty_sign_ups_from_one_address_through() -> None:
    statuses = [sign_up(Client(), f"user{number}").status_code for number in range(20)]
    assert statuses == [302] * 3 + [429] * 17
    assert User.objects.count() == 3


def test_a_throttled_sign_up_says_when_to_try_again(client: Client, settings) -> None:
    settings.SIGNUPS_PER_ADDRESS_PER_HOUR = 1
    sign_up(Client(), "first")
    response = sign_up(client, "second")
    assert response.status_code == 429
    assert 3590 <= int(response["Retry-After"]) <= 3600
    assert "这个网络地址注册太频繁（每小时最多 1 个），请在 60 分钟后再试" in response.text
    assert not User.objects.filter(username="second").exists()


def test_another_address_may_still_sign_up(settings) -> None:
    settings.SIGNUPS_PER_ADDRESS_PER_HOUR = 1
    assert sign_up(Client(REMOTE_ADDR="203.0.113.1"), "first").status_code == 302
    assert sign_up(Client(REMOTE_ADDR="203.0.113.1"), "second").status_code == 429
    assert sign_up(Client(REMOTE_ADDR="203.0.113.2"), "third").status_code == 302


def test_closed_mode_makes_no_account(client: Client, settings) -> None:
    settings.SIGNUP_MODE = "closed"
    response = sign_up(client, "xiaoming")
    assert response.status_code == 403
    assert "本站不开放注册" in response.text
    assert not User.objects.exists()


def test_closed_mode_in_english(client: Client, settings) -> None:
    settings.SIGNUP_MODE = "closed"
    response = client.get("/accounts/signup/", headers={"accept-language": "en"})
    assert response.status_code == 403
    assert "Sign-up is closed on this site: ask an admin for an account" in response.text


def test_invite_mode_needs_an_invite(client: Client, settings) -> None:
    settings.SIGNUP_MODE = "invite"
    response = sign_up(client, "xiaoming")
    assert response.status_code == 403
    assert not User.objects.exists()


def test_an_invite_works_once(settings) -> None:
    settings.SIGNUP_MODE = "invite"
    invite = invite_create(created_by=None, note="for xiaoming")
    first = sign_up(Client(), "xiaoming", invite=invite.code)
    again = sign_up(Client(), "xiaohong", invite=invite.code)
    invite.refresh_from_db()
    assert first.status_code == 302
    assert again.status_code == 403
    assert invite.used_by == User.objects.get(username="xiaoming")
    assert list(User.objects.values_list("username", flat=True)) == ["xiaoming"]


def test_an_expired_invite_is_refused(client: Client, settings) -> None:
    settings.SIGNUP_MODE = "invite"
    invite = invite_create(created_by=None)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/accounts/signup/?invite={invite.code}").status_code == 403


def test_the_invite_link_opens_the_form(client: Client, settings) -> None:
    settings.SIGNUP_MODE = "invite"
    invite = invite_create(created_by=None)
    response = client.get(f"/accounts/signup/?invite={invite.code}")
    assert response.status_code == 200
    assert f'<input type="hidden" name="invite" value="{invite.code}">' in response.text


def test_an_admin_makes_an_invite_in_the_admin(admin_client: Client) -> None:
    expires = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%d")
    response = admin_client.post(
        "/admin/accounts/invite/add/",
        {"note": "for xiaoming", "expires_at_0": expires, "expires_at_1": "12:00:00"},
    )
    assert response.status_code == 302
    invite = Invite.objects.get()
    assert invite.created_by.username == "admin"
    listing = admin_client.get("/admin/accounts/invite/")
    assert f"/accounts/signup/?invite={invite.code}" in listing.text


def test_the_first_account_comes_from_the_command_line_with_sign_up_closed(settings, monkeypatch) -> None:
    settings.SIGNUP_MODE = "closed"
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", interactive=False, username="root", email="root@example.com", verbosity=0)
    root = User.objects.get()
    assert (root.username, root.is_superuser, root.check_password(PASSWORD)) == ("root", True, True)


def test_the_system_check_warns_about_open_sign_up_without_debug(settings) -> None:
    settings.DEBUG = False
    settings.SIGNUP_MODE = "open"
    assert [warning.id for warning in signup_mode_check()] == ["accounts.W001"]


@pytest.mark.parametrize(("mode", "debug"), [("invite", False), ("closed", False), ("open", True)])
def test_the_system_check_is_quiet_otherwise(settings, mode: str, debug: bool) -> None:
    settings.DEBUG = debug
    settings.SIGNUP_MODE = mode
    assert signup_mode_check() == []


def test_new_accounts_start_with_the_smaller_quota(client: Client, settings) -> None:
    settings.QUOTA_NEW_ACCOUNT_DAILY_TOKENS = 20_000
    sign_up(client, "xiaoming")
    assert UserQuota.objects.get(user__username="xiaoming").daily_token_budget == 20_000


def test_without_the_setting_new_accounts_get_the_default_quota(client: Client) -> None:
    sign_up(client, "xiaoming")
    assert not UserQuota.objects.exists()


def test_open_sign_up_with_mail_verification_activates_from_the_mailed_link(client: Client, settings) -> None:
    settings.SIGNUP_EMAIL_VERIFICATION = True
    response = sign_up(client, "xiaoming", email="xm@example.com")
    user = User.objects.get(username="xiaoming")
    assert response.status_code == 200
    assert "xm@example.com" in response.text
    assert user.is_active is False
    assert "_auth_user_id" not in client.session
    (message,) = mail.outbox
    assert message.to == ["xm@example.com"]
    link = re.search(r"http://testserver(/accounts/verify-email/\S+/)", message.body).group(1)
    assert client.get(link).status_code == 302
    user.refresh_from_db()
    assert user.is_active is True
    assert client.session["_auth_user_id"] == str(user.pk)


def test_mail_verification_needs_an_address(client: Client, settings) -> None:
    settings.SIGNUP_EMAIL_VERIFICATION = True
    response = sign_up(client, "xiaoming")
    assert response.status_code == 200
    assert "errorlist" in response.text
    assert not User.objects.exists()


def test_a_forged_verification_link_is_refused(client: Client) -> None:
    response = client.get("/accounts/verify-email/not-a-token/")
    assert response.status_code == 400
    assert "验证链接无效或已过期" in response.text
