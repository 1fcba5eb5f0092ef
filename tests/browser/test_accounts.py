"""Accounts in a real browser: an admin turns on a TOTP second factor from the labelled setup page
(QR code shown), signs out, and signs back in with a password and a code."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, Site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "a-long-pass-phrase-9"


def current_code(*, confirmed: bool, drift: int = 0) -> str:
    """The root's TOTP code now (drift 1: the next one), read in a thread of its own: Playwright's
    sync API leaves an event loop marked running in the test's thread, which blocks the ORM there."""

    def read() -> str:
        try:
            device = TOTPDevice.objects.get(user__username="root", confirmed=confirmed)
            return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=drift):06d}"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(read).result()


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root", password=PASSWORD)


def sign_in(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_label("用户名").fill("root")
    page.get_by_label("密码").fill(PASSWORD)
    page.click("form.card button[type=submit]")


def test_an_admin_turns_on_totp_and_signs_in_with_a_code(root: User, page: Page, site: Site) -> None:
    sign_in(page, site)
    expect(page.locator(".topbar .who")).to_have_text("root")
    page.goto(f"{site.url}/accounts/mfa/")
    page.click("button[value=start]")
    expect(page.locator(".mfa-qr svg")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "accounts-mfa-setup.png", full_page=True)
    page.get_by_label("验证码").fill(current_code(confirmed=False))
    page.click("button[value=confirm]")
    expect(page.locator(".recovery-codes li")).to_have_count(10)

    page.click(".topbar button.link")
    sign_in(page, site)
    page.wait_for_url(f"{site.url}/accounts/login/verify/")
    # The code that confirmed the device cannot sign in again (django-otp refuses replays): use the
    # next one, which the device accepts (its tolerance is one step).
    page.get_by_label("验证码").fill(current_code(confirmed=True, drift=1))
    page.click("form.card button[type=submit]")
    expect(page.locator(".topbar .who")).to_have_text("root")
    page.goto(f"{site.url}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
