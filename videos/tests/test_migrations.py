"""Migration 0005: a part's old "zh / en" error text becomes code "legacy_error" with the text."""

from __future__ import annotations

import pytest
from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("videos", "0004_video_request")]
AFTER = [("videos", "0005_part_error_code")]


def migrate(targets: list[tuple[str, str]]) -> Apps:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


def test_old_error_text_is_kept_as_a_legacy_error() -> None:
    old_apps = migrate(BEFORE)
    Video, VideoPart = old_apps.get_model("videos", "Video"), old_apps.get_model("videos", "VideoPart")
    video = Video.objects.create(bvid="BV1xx411c7mD", aid=2, title="t")
    failed = VideoPart.objects.create(video=video, page=1, cid=1, stage="failed", error_message="失败 / Failed")
    ready = VideoPart.objects.create(video=video, page=2, cid=2, stage="ready")
    try:
        new_apps = migrate(AFTER)
        parts = new_apps.get_model("videos", "VideoPart").objects
        assert parts.get(pk=failed.pk).error_code == "legacy_error"
        assert parts.get(pk=failed.pk).error_params == {"text": "失败 / Failed"}
        assert (parts.get(pk=ready.pk).error_code, parts.get(pk=ready.pk).error_params) == ("", {})
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
