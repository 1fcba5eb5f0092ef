"""SSE frames: token events take a direct encoding that is byte for byte the generic one."""

from __future__ import annotations

import json

import pytest

from chat.api import sse_frame


@pytest.mark.parametrize("text", ["好", 'a "quoted" line\n', "\\ and \t tab", "🥩 [00:20]"])
def test_a_token_frame_is_the_generic_encoding(text: str) -> None:
    event = {"type": "token", "text": text}
    assert sse_frame(event) == f"event: token\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


def test_a_token_event_with_more_fields_keeps_them() -> None:
    frame = sse_frame({"type": "token", "text": "好", "offset": 3})
    assert frame == 'event: token\ndata: {"type": "token", "text": "好", "offset": 3}\n\n'
