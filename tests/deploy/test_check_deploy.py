"""HTTPS settings: `manage.py check --deploy` is clean with them, and they do what Django says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k7#Qx9!vT2mZr8LpW4sN6yB1cD3fG5hJ0aE-uIoP_qRtYwXzV-3nM8",
    "ALLOWED_HOSTS": "chatbili.example.org",
    "SIGNUP_MODE": "invite",
    "ADMIN_MFA_REQUIRED": "true",
    "EMAIL_HOST": "smtp.example.org",
}
HTTPS = {
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_PROXY_SSL_HEADER": "true",
}


def check_deploy(variables: dict[str, str]) -> subprocess.CompletedProcess:
    """`manage.py check --deploy --fail-level WARNING` in a fresh process with the site's own settings."""
    env = {key: value for key, value in os.environ.items() if key not in HTTPS and key != "DJANGO_SETTINGS_MODULE"}
    env.update({"DJANGO_SETTINGS_MODULE": "chatbili_site.settings", **variables})
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # a fresh Django process: ~15 s on 2 busy cores
def test_check_deploy_is_clean_with_the_https_variables() -> None:
    result = check_deploy({**PRODUCTION, **HTTPS})
    assert (result.returncode, result.stdout.strip()) == (0, "System check identified no issues (0 silenced).")


@pytest.mark.slow
def test_check_deploy_fails_without_them() -> None:
    result = check_deploy(PRODUCTION)
    found = {
        code for code in ("security.W004", "security.W008", "security.W012", "security.W016") if code in result.stderr
    }
    assert (result.returncode, found) == (1, {"security.W004", "security.W008", "security.W012", "security.W016"})


@pytest.fixture
def https_site(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https(https_site) -> None:
    response = Client().get("/accounts/login/")
    assert (response.status_code, response["Location"]) == (301, "https://testserver/accounts/login/")


@pytest.mark.django_db
def test_the_proxys_https_header_marks_the_request_secure(https_site) -> None:
    response = Client().get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert (response.status_code, response["Strict-Transport-Security"]) == (200, "max-age=31536000")


@pytest.mark.django_db
def test_healthz_is_not_redirected_so_local_probes_work(https_site) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
