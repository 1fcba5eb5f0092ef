"""videos.selectors: a part read without its transcript is one statement written once from the models,
and gives the instances the ORM would (issue 12)."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from core.errors import AppError
from tests.factories import ready_part
from videos.models import VideoPart
from videos.selectors import part_find, part_get_or_404

pytestmark = pytest.mark.django_db
LARGE = ["transcript_cues", "danmaku"]  # left out unless the transcript is asked for


@pytest.fixture
def part() -> VideoPart:
    return async_to_sync(ready_part)()


def test_a_part_without_its_transcript_is_one_statement(part: VideoPart) -> None:
    with CaptureQueriesContext(connection) as captured:
        part_find(bvid=part.video.bvid, page=part.page)

    assert len(captured.captured_queries) == 1


def test_a_part_read_without_its_transcript_is_what_the_orm_reads(part: VideoPart) -> None:
    read = part_find(bvid=part.video.bvid, page=part.page)
    orm = VideoPart.objects.select_related("video").defer(*LARGE).get(pk=part.pk)

    assert read.get_deferred_fields() == orm.get_deferred_fields() == set(LARGE)
    assert model_to_dict(read, exclude=LARGE) == model_to_dict(orm, exclude=LARGE)
    assert model_to_dict(read.video) == model_to_dict(orm.video)


def test_a_part_read_with_its_transcript_has_it(part: VideoPart) -> None:
    read = part_find(bvid=part.video.bvid, page=part.page, with_transcript=True)

    assert (read.get_deferred_fields(), read.transcript_cues) == (set(), part.transcript_cues)


def test_a_missing_part_is_part_not_found(part: VideoPart) -> None:
    with pytest.raises(AppError) as raised:
        part_get_or_404(bvid=part.video.bvid, page=part.page + 1)

    assert (raised.value.code, raised.value.details) == ("part_not_found", {"bvid": part.video.bvid, "page": 2})
