"""Encryption at rest for stored credentials (the Bilibili login's cookies).

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with a key derived by HKDF-SHA256 from
BILIBILI_LOGIN_KEY (SECRET_KEY unless set). A database dump holds only the token; the plain
values are never logged. Changing the key makes the stored login unreadable: log in again.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from core.errors import AppError
from videos.errors import BILIBILI_LOGIN_BAD_KEY

KEY_PURPOSE = b"chatbili bilibili-login v1"


def _fernet() -> Fernet:
    secret = str(settings.BILIBILI_LOGIN_KEY or settings.SECRET_KEY).encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_json(value: Any) -> str:
    """A token (ASCII) holding `value` as JSON, readable only with the same key."""
    return _fernet().encrypt(json.dumps(value, ensure_ascii=False).encode()).decode()


def decrypt_json(token: str) -> Any:
    """The value of `encrypt_json`; AppError `bilibili_login_bad_key` when the key changed."""
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError) as exc:
        raise AppError(BILIBILI_LOGIN_BAD_KEY) from exc
