"""Migration 0006: an old error text becomes code "legacy_error" with the text as its param, and back."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.errors import stored_error_message
from videos.models import Video, VideoPart

BEFORE = ("chat", "0005_summary_previous")
AFTER = ("chat", "0006_error_code_error_params")
OLD_TEXT = "LLM request failed: HTTP 500 / 大模型请求失败"


def migrate_to(target: tuple[str, str]) -> Any:
    """Migrate chat to `target`; the app registry of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_old_error_texts_become_legacy_error_codes_and_back() -> None:
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("chat")[0]
    video = Video.objects.create(bvid="BV1mg411c7mD", aid=1, title="t")
    part = VideoPart.objects.create(video=video, page=1, cid=1)
    summary_then = migrate_to(BEFORE).get_model("chat", "Summary")
    failed = summary_then.objects.create(part_id=part.pk, language="zh", prompt_version="v1", model="m")
    summary_then.objects.filter(pk=failed.pk).update(error_message=OLD_TEXT)
    fine = summary_then.objects.create(part_id=part.pk, language="en", prompt_version="v1", model="m")
    try:
        summary_now = migrate_to(AFTER).get_model("chat", "Summary")
        migrated = summary_now.objects.get(pk=failed.pk)
        assert (migrated.error_code, migrated.error_params) == ("legacy_error", {"text": OLD_TEXT})
        assert stored_error_message(migrated.error_code, migrated.error_params, "en") == OLD_TEXT
        untouched = summary_now.objects.get(pk=fine.pk)
        assert (untouched.error_code, untouched.error_params) == ("", {})
        reverted = migrate_to(BEFORE).get_model("chat", "Summary").objects.get(pk=failed.pk)
        assert reverted.error_message == OLD_TEXT
    finally:
        migrate_to(latest)
