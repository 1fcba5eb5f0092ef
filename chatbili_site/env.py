"""Typed settings from the environment, with a `.env` file read if present.

Every getter raises `ImproperlyConfigured` naming the variable when its value is bad,
so a misconfigured site fails at start-up instead of at the first request.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse KEY=VALUE lines; comments, blank lines and `export ` prefixes are allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ImproperlyConfigured(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


class Env:
    """Reads variables from the process environment first, then from `.env`."""

    def __init__(self, environ: dict[str, str], dotenv: dict[str, str] | None = None) -> None:
        self.values = {**(dotenv or {}), **environ}

    def raw(self, name: str) -> str | None:
        value = self.values.get(name)
        return value.strip() if value is not None else None

    def str(self, name: str, default: str = "") -> str:
        value = self.raw(name)
        return default if value is None or value == "" else value

    def bool(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise ImproperlyConfigured(f"{name}: expected true or false, got {value!r}")

    def int(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: expected an integer, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise ImproperlyConfigured(f"{name}: must be at most {maximum}, got {number}")
        return number

    def float(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: expected a number, got {value!r}") from None
        if number < minimum:
            raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}")
        return number

    def list(self, name: str, default: list[str]) -> list[str]:
        value = self.raw(name)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]

    def url(self, name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
        value = self.str(name, default)
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            allowed = " or ".join(schemes)
            raise ImproperlyConfigured(f"{name}: expected a {allowed} URL, got {value!r}")
        return value.rstrip("/")


def load_env(base_dir: Path) -> Env:
    return Env(dict(os.environ), read_dotenv(base_dir / ".env"))
