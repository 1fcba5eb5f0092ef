"""A second factor (django-otp TOTP + recovery codes): an admin's TOTP sign-in, the admin refusing
a password alone, setting TOTP up, and ADMIN_MFA_REQUIRED."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.mfa import recovery_codes_renew

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-pass-phrase-9"


@pytest.fixture
def admin_with_totp() -> tuple[User, TOTPDevice]:
    root = User.objects.create_superuser("root", password=PASSWORD)
    device = TOTPDevice.objects.create(user=root, name="phone", confirmed=True)
    return root, device


def code_of(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_an_admin_signs_in_with_a_totp_code_and_reaches_the_admin(client: Client, admin_with_totp) -> None:
    root, device = admin_with_totp
    password_step = client.post("/accounts/login/", {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert password_step["Location"] == "/accounts/login/verify/"
    assert "_auth_user_id" not in client.session
    code_step = client.post("/accounts/login/verify/", {"code": code_of(device)})
    assert code_step["Location"] == "/admin/"
    assert client.session["_auth_user_id"] == str(root.pk)
    assert client.get("/admin/").status_code == 200


def test_a_wrong_code_signs_no_one_in(client: Client, admin_with_totp) -> None:
    _, device = admin_with_totp
    client.post("/accounts/login/", {"username": "root", "password": PASSWORD})
    wrong = "000000" if code_of(device) != "000000" else "111111"
    response = client.post("/accounts/login/verify/", {"code": wrong})
    assert response.status_code == 400
    assert "验证码或恢复码不正确" in response.text
    assert "_auth_user_id" not in client.session


def test_the_code_step_needs_the_password_step_first(client: Client) -> None:
    assert client.get("/accounts/login/verify/")["Location"] == "/accounts/login/"


def test_a_recovery_code_works_once(admin_with_totp) -> None:
    root, _ = admin_with_totp
    codes = recovery_codes_renew(user=root)
    first, second = Client(), Client()
    for client in (first, second):
        client.post("/accounts/login/", {"username": "root", "password": PASSWORD})
        client.post("/accounts/login/verify/", {"code": codes[0]})
    assert first.session["_auth_user_id"] == str(root.pk)
    assert "_auth_user_id" not in second.session


def test_the_admin_sign_in_page_refuses_a_password_alone_for_an_account_with_a_second_factor(
    client: Client, admin_with_totp
) -> None:
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_an_unverified_session_of_an_account_with_a_second_factor_does_not_reach_the_admin(
    client: Client, admin_with_totp
) -> None:
    root, _ = admin_with_totp
    client.force_login(root)
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"


def test_with_admin_mfa_required_staff_without_a_second_factor_are_sent_to_set_one_up(client: Client, settings) -> None:
    settings.ADMIN_MFA_REQUIRED = True
    User.objects.create_superuser("root", password=PASSWORD)
    response = client.post("/accounts/login/", {"username": "root", "password": PASSWORD})
    assert response["Location"] == "/accounts/mfa/"
    assert client.get("/admin/")["Location"] == "/admin/login/?next=/admin/"


def test_without_the_setting_an_admin_without_a_second_factor_uses_the_admin(client: Client) -> None:
    client.force_login(User.objects.create_superuser("root", password=PASSWORD))
    assert client.get("/admin/").status_code == 200


def test_setting_up_totp_gives_recovery_codes_and_a_verified_session(client: Client, settings) -> None:
    settings.ADMIN_MFA_REQUIRED = True
    root = User.objects.create_superuser("root", password=PASSWORD)
    client.force_login(root)
    client.post("/accounts/mfa/", {"action": "start"})
    page = client.get("/accounts/mfa/")
    assert "<svg" in page.text and 'aria-label="身份验证器二维码"' in page.text
    device = TOTPDevice.objects.get(user=root, confirmed=False)
    response = client.post("/accounts/mfa/", {"action": "confirm", "code": code_of(device)})
    assert response.status_code == 200
    assert len(re.findall(r"<li><code>[a-z2-7]{8}</code></li>", response.text)) == 10
    assert TOTPDevice.objects.get(user=root).confirmed is True
    assert client.get("/admin/").status_code == 200
