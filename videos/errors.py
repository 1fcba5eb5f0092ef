"""The one error type for anything that goes wrong while getting a video.

`permanent` tells the caller whether retrying can help. Messages are user-facing, in Chinese
and English, because they end up in pages, the API and `manage.py ingest`.
"""

from __future__ import annotations


class VideoError(Exception):
    def __init__(self, code: str, message_zh: str, message_en: str, *, permanent: bool = True) -> None:
        super().__init__(f"{message_zh} ({message_en})")
        self.code = code
        self.message_zh = message_zh
        self.message_en = message_en
        self.permanent = permanent

    @property
    def message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class InvalidLinkError(VideoError):
    """The text names no Bilibili video (or a short link points elsewhere)."""

    def __init__(
        self, message_zh: str = "无法识别的哔哩哔哩视频链接", message_en: str = "Not a Bilibili video link"
    ) -> None:
        super().__init__("invalid_link", message_zh, message_en, permanent=True)
