"""axe-core on every page, signed in and out, in Chinese and English, light and dark (issue 16).

One browser and one site for the module. A user is made before the browser starts; the video page
gets its content through the site itself (paste a link, the summary streams, a question is asked),
so the page axe checks is the page a user sees. Each page is loaded once per language and sign-in
state, and checked in light and then dark mode (prefers-color-scheme emulation, no reload).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import VIDEO_PATH, Site, axe_violations, new_page, wait_for_video_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIGNED_OUT_PAGES = ["/", "/accounts/login/", "/accounts/signup/", "/no-such-page/"]
SIGNED_IN_PAGES = ["/", VIDEO_PATH, f"{VIDEO_PATH}?conversation=new", "/history/", "/account/", "/no-such-page/"]
# Pages other issues add (accounts, the library): checked too when the site has them.
MAYBE_SIGNED_OUT = [
    "/accounts/password/reset/",
    "/accounts/password/reset/done/",
    "/accounts/reset/done/",
    "/accounts/login/verify/",
]
MAYBE_SIGNED_IN = [
    "/library/",
    "/collections/",
    "/collections/new/",
    "/accounts/security/",
    "/accounts/mfa/",
    "/accounts/delete/",
    "/accounts/password/change/",
    "/accounts/password/change/done/",
]
LOCALES = {"zh": "zh-CN", "en": "en-US"}


def existing(site: Site, paths: list[str], session: str | None) -> list[str]:
    cookies = {"sessionid": session} if session else {}
    return [path for path in paths if httpx.get(site.url + path, cookies=cookies).status_code == 200]


def check_pages(browser: Browser, site: Site, paths: list[str], session: str | None) -> dict[str, Any]:
    """axe's serious and critical violations by "language scheme path", for both languages and schemes."""
    failures: dict[str, Any] = {}
    for language, locale in LOCALES.items():
        page = new_page(browser, site, locale=locale, session=session)
        for path in paths:
            page.emulate_media(color_scheme="light")
            page.goto(site.url + path)
            if path.startswith("/videos/"):
                wait_for_video_page(page)
            for scheme in ("light", "dark"):
                page.emulate_media(color_scheme=scheme)
                violations = axe_violations(page, site)
                if violations:
                    failures[f"{language} {scheme} {path}"] = violations
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
        page.context.close()
    return failures


def test_no_serious_axe_violation_signed_out(module_browser: Browser, site: Site) -> None:
    paths = SIGNED_OUT_PAGES + existing(site, MAYBE_SIGNED_OUT, None)
    failures = check_pages(module_browser, site, paths, None)
    assert failures == {}, json.dumps(failures, ensure_ascii=False, indent=1)


def test_no_serious_axe_violation_signed_in(
    module_browser: Browser, site: Site, module_users: dict[str, str], module_video: str
) -> None:
    session = module_users["reader"]
    paths = SIGNED_IN_PAGES + existing(site, MAYBE_SIGNED_IN, session)
    failures = check_pages(module_browser, site, paths, session)
    assert failures == {}, json.dumps(failures, ensure_ascii=False, indent=1)


def test_a_refused_link_on_home_passes_axe(module_browser: Browser, site: Site, module_users: dict[str, str]) -> None:
    page = new_page(module_browser, site, session=module_users["newcomer"])
    page.goto(site.url + "/")
    page.fill("#link", "https://space.bilibili.com/2")
    page.click("#link-form button[type=submit]")
    expect(page.locator("#link-error")).to_be_visible()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert axe_violations(page, site) == [], scheme
    page.context.close()
