"""Warm start: every step runs in a server process before it accepts, and the loop gets its client."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from chatbili_site import warmup
from core.http import shared_openai_client

pytestmark = pytest.mark.django_db(transaction=True)  # the warm-up returns its connection to the pool


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process goes on collecting as before


def test_every_warm_step_runs_and_the_loaded_objects_are_frozen(
    unfrozen: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="chatbili_site.warmup"):
        timings = warmup.warm_process()

    assert list(timings) == ["tokenizer", "prompts", "http_clients", "database", "orm", "ask_path", "urls", "rendering"]
    assert caplog.records == []
    assert gc.get_freeze_count() > 0


async def test_the_loop_warm_up_makes_the_client_later_calls_share() -> None:
    await warmup.warm_loop()
    warmed = shared_openai_client()

    assert shared_openai_client() is warmed
    assert not warmed.is_closed()


async def test_changed_settings_get_a_client_of_their_own(settings: object) -> None:
    before = shared_openai_client()
    settings.OPENAI_BASE_URL = "http://127.0.0.1:8/another/v1"

    assert shared_openai_client() is not before
