"""Danmaku (弹幕): the XML of comment.bilibili.com/{cid}.xml and its per-bucket summary, which feeds
highlight detection (stored in VideoPart.danmaku)."""

from __future__ import annotations

import html
import math
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

from core.errors import AppError
from videos.errors import BAD_DANMAKU, DANMAKU_TOO_LARGE

MAX_DANMAKU_XML_BYTES = 64 * 1024 * 1024

# Danmaku XML is read with a regular expression, not an XML parser: real files sometimes hold
# control characters that are not valid XML, and a regex cannot expand entities.
_DANMAKU_LINE = re.compile(r"""<d\s+p=(["'])(?P<p>[^"']*)\1\s*>(?P<text>.*?)</d>""", re.DOTALL)


def inflate_danmaku(body: bytes) -> bytes:
    """The XML of a danmaku reply: plain, raw deflate (what Bilibili sends), zlib or gzip."""
    if body.lstrip().startswith((b"<", b"\xef\xbb\xbf")):
        return body
    for wbits in (-zlib.MAX_WBITS, zlib.MAX_WBITS, zlib.MAX_WBITS | 16):
        inflater = zlib.decompressobj(wbits)
        try:
            xml = inflater.decompress(body, MAX_DANMAKU_XML_BYTES)
        except zlib.error:
            continue
        if inflater.unconsumed_tail:
            raise AppError(DANMAKU_TOO_LARGE)
        return xml
    raise AppError(BAD_DANMAKU)


def danmaku_from_xml(xml: bytes | str) -> list[tuple[float, str]]:
    """(seconds into the part, text) for every `<d p="time,mode,…">text</d>`, sorted by time."""
    text = xml.decode("utf-8", errors="replace") if isinstance(xml, bytes) else xml
    items = []
    for match in _DANMAKU_LINE.finditer(text):
        fields = match.group("p").split(",")
        try:
            seconds = float(fields[0])
        except ValueError:
            continue
        content = html.unescape(match.group("text")).strip()
        if len(fields) >= 8 and math.isfinite(seconds) and seconds >= 0 and content:
            items.append((seconds, content))
    items.sort(key=lambda item: item[0])
    return items


def danmaku_summary(
    items: Sequence[tuple[float, str]],
    bucket_seconds: int = 10,
    top: int = 5,
    *,
    duration_seconds: float | None = None,
) -> dict[str, Any]:
    """Danmaku per time bucket, for highlight detection (stored in VideoPart.danmaku).

    {"bucket_seconds": 10, "counts": [n per bucket], "top_texts": [[[text, count], …] per
    bucket], "total": n}. With `duration_seconds`, the buckets cover the whole part.
    """
    if bucket_seconds <= 0 or top < 0:
        raise ValueError("bucket_seconds must be positive and top must not be negative")
    bucket_count = max((int(max(0.0, seconds) // bucket_seconds) + 1 for seconds, _ in items), default=0)
    if duration_seconds:
        bucket_count = max(bucket_count, math.ceil(duration_seconds / bucket_seconds))
    counts = [0] * bucket_count
    texts = [Counter[str]() for _ in range(bucket_count)]
    for seconds, text in items:
        bucket = int(max(0.0, seconds) // bucket_seconds)
        counts[bucket] += 1
        texts[bucket][text.strip()] += 1
    return {
        "bucket_seconds": bucket_seconds,
        "counts": counts,
        "top_texts": [[[text, count] for text, count in counter.most_common(top)] for counter in texts],
        "total": len(items),
    }
