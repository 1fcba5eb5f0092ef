"""`manage.py ingest <collection link>`: a line per item change with the overall bar."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from tests.fakes.bilibili import FakeBilibili
from tests.fakes.bilibili_collections import FIVE_PART, FIVE_PART_LINK, MIXED_FAVOURITES_LINK, SEASON_LINK
from videos.models import CollectionItem

pytestmark = [pytest.mark.django_db(transaction=True)]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("ingest", *args, stdout=out)
    return out.getvalue()


def test_a_season_link_shows_each_item_and_the_overall_bar(bilibili: FakeBilibili) -> None:
    User.objects.create_user("alice")
    output = run(SEASON_LINK, "--user", "alice")
    lines = output.splitlines()
    assert lines[0].startswith("三期合集 (")
    assert "[##############################] 100%     3/3 done: 3 ready, 0 failed" in lines[-1]
    for number in (1, 2, 3):
        assert any(f"合集第{number}期: ready 100%" in line for line in lines), output


def test_a_video_link_with_collection_takes_every_part(bilibili: FakeBilibili) -> None:
    User.objects.create_user("alice")
    output = run(FIVE_PART_LINK, "--collection", "--user", "alice")
    assert "5/5 done: 5 ready, 0 failed" in output
    ready = CollectionItem.objects.filter(bvid=FIVE_PART[0], state="ready")
    assert sorted(ready.values_list("page", flat=True)) == [1, 2, 3, 4, 5]


def test_run_again_it_does_nothing_that_finished(bilibili: FakeBilibili) -> None:
    User.objects.create_user("alice")
    run(SEASON_LINK, "--user", "alice")
    views_before = len(bilibili.calls("/x/web-interface/view"))
    output = run(SEASON_LINK, "--user", "alice")
    assert len(bilibili.calls("/x/web-interface/view")) == views_before
    assert "3/3 done: 3 ready, 0 failed" in output


def test_failed_items_end_the_command_with_their_reasons(bilibili: FakeBilibili) -> None:
    User.objects.create_user("alice")
    with pytest.raises(CommandError) as raised:
        run(MIXED_FAVOURITES_LINK, "--user", "alice")
    assert str(raised.value).splitlines() == [
        "BV1Zs411o7b8 p1: 这个视频已失效（被删除或设为私密）",
        f"BV1L9Uoa9EUx p1: {CollectionItem.objects.get(bvid='BV1L9Uoa9EUx').error_text('zh')}",
        f"BV1Zs411o7bn p1: {CollectionItem.objects.get(bvid='BV1Zs411o7bn').error_text('zh')}",
    ]


def test_without_an_owner_the_command_says_how_to_name_one(bilibili: FakeBilibili) -> None:
    with pytest.raises(CommandError, match="pass --user USERNAME"):
        run(SEASON_LINK)
