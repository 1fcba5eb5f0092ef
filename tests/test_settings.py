"""Settings come from the environment and `.env`; bad values fail naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatbili_site.env import Env, read_dotenv
from chatbili_site.settings import BASE_DIR, database_from_url


def run_check(**overrides: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with these variables."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbili_site.settings", **overrides}
    code = "import django; django.setup(); print('ok')"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEBUG", "maybe"),
        ("EMBEDDING_DIMENSIONS", "abc"),
        ("EMBEDDING_DIMENSIONS", "4096"),
        ("OPENAI_BASE_URL", "not a url"),
        ("BILIBILI_API_BASE", "ftp://example.com"),
        ("DATABASE_URL", "mysql://localhost/chatbili"),
        ("REDIS_URL", "http://localhost:6379"),
        ("OUTBOUND_PROXY", "proxy.local:8080"),
        ("CSRF_TRUSTED_ORIGINS", "example.com"),
        ("LLM_TIMEOUT_SECONDS", "-1"),
    ],
)
def test_bad_value_fails_at_start_naming_the_variable(variable: str, value: str) -> None:
    result = run_check(**{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr.splitlines()[-1]


def test_secret_key_is_required_when_debug_is_off() -> None:
    result = run_check(DEBUG="false", SECRET_KEY="")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_debug_runs_without_a_secret_key() -> None:
    result = run_check(DEBUG="true", SECRET_KEY="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        '# comment\nexport CHAT_MODEL="deepseek-chat"\nEMBEDDING_DIMENSIONS=512\n\nDEBUG=true\n', encoding="utf-8"
    )
    env = Env({"DEBUG": "false"}, read_dotenv(dotenv))
    assert env.str("CHAT_MODEL") == "deepseek-chat"
    assert env.int("EMBEDDING_DIMENSIONS", 1024) == 512
    assert env.bool("DEBUG", True) is False


def test_malformed_dotenv_line_names_the_file(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("JUST SOME WORDS\n", encoding="utf-8")
    with pytest.raises(ImproperlyConfigured, match=r"\.env:1"):
        read_dotenv(dotenv)


def test_env_lists_and_defaults() -> None:
    env = Env({"ALLOWED_HOSTS": "a.example, b.example,", "EMPTY": ""})
    assert env.list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]
    assert env.str("EMPTY", "fallback") == "fallback"
    assert env.url("MISSING", "https://api.bilibili.com/") == "https://api.bilibili.com"


def database_url_of_test_db_with_host_and_password() -> None:
    db = database_from_url("postgresql://chat%40bili:p%2Fss@db.internal:5433/chatbili?sslmode=require")
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "chat@bili",
        "p/ss",
        "db.internal",
        "5433",
        "chatbili",
    )
    assert db["OPTIONS"]["sslmode"] == "require"
    assert "pool" in db["OPTIONS"]


def database_url_of_test_db_with_unix_socket() -> None:
    db = database_from_url("postgresql://postgres@/chatbili?host=/var/run/postgresql")
    assert db["HOST"] == "/var/run/postgresql"
    assert db["NAME"] == "chatbili"


def database_url_of_test_db_must_name_a_database() -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url("postgresql://localhost")
