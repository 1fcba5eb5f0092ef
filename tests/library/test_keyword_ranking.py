"""The library's keyword ranking: only the scope's chunks, best `ts_rank_cd` first like one part's
ranking, which is computed only for a shortlist picked by the cheaper `ts_rank`
(chat.retrieval._LIBRARY_KEYWORD_SQL)."""

from __future__ import annotations

import pytest

import chat.retrieval as retrieval
from chat.retrieval import keyword_ranking
from chat.tests.test_retrieval import make_part, store_chunks
from videos.models import Chunk

pytestmark = pytest.mark.django_db

QUESTION = "红烧肉怎么炒糖色"
# For QUESTION's terms (红烧 | 烧肉 | ... | 炒糖 | 糖色):    ts_rank   ts_rank_cd
FIRST = "红烧肉先炒糖色"  #                                    0.0405    0.4
REPEATED_PORK = "红烧肉红烧肉红烧肉红烧肉"  #                 0.0289    0.8
REPEATED_SUGAR = "糖色糖色糖色糖色糖色糖色"  #                0.0151    0.6
MIXED = "炒糖色，红烧肉，糖色"  #                              0.0431    0.5
PARTS = [[FIRST, "今天天气不错", REPEATED_PORK], [REPEATED_SUGAR, "鸡翅划几刀"], [MIXED, "泡茶的水温"]]


def library() -> tuple[list[int], dict[str, int]]:
    """Three parts' chunks: their ids, and each chunk's id by its text."""
    part_ids = []
    for page, texts in enumerate(PARTS, start=1):
        part = make_part(page=page)
        store_chunks(part, texts)
        part_ids.append(part.pk)
    return part_ids, dict(Chunk.objects.values_list("text", "pk"))


def test_the_scopes_matching_chunks_come_best_ts_rank_cd_first() -> None:
    part_ids, chunk = library()

    ranking = keyword_ranking(part_id=part_ids, question=QUESTION, limit=10)

    assert ranking == [chunk[REPEATED_PORK], chunk[REPEATED_SUGAR], chunk[MIXED], chunk[FIRST]]


def test_chunks_outside_the_scope_are_not_ranked() -> None:
    part_ids, chunk = library()

    ranking = keyword_ranking(part_id=part_ids[:2], question=QUESTION, limit=10)

    assert ranking == [chunk[REPEATED_PORK], chunk[REPEATED_SUGAR], chunk[FIRST]]


def test_ts_rank_cd_orders_only_the_ts_rank_shortlist(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shortlist of 2 × limit 1: the two best by `ts_rank` (MIXED, FIRST), then the best of those by
    `ts_rank_cd` (MIXED), though REPEATED_PORK has the best `ts_rank_cd` of all."""
    monkeypatch.setattr(retrieval, "LIBRARY_KEYWORD_SHORTLIST", 2)
    part_ids, chunk = library()

    assert keyword_ranking(part_id=part_ids, question=QUESTION, limit=1) == [chunk[MIXED]]
