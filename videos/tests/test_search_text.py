"""Chinese keyword search: bigram documents and OR queries that PostgreSQL's `simple` config can match."""

from __future__ import annotations

import doctest

import pytest
from django.db import connection

from videos import search_text
from videos.search_text import search_query_terms, search_terms, text_runs


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(search_text).failed == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("量子计算", "量子 子计 计算"),
        ("猫", "猫"),
        ("我 爱 Python3", "我爱 python3"),  # a space between Han characters is a line break, not a word break
        ("今天做红\n烧肉", "今天 天做 做红 红烧 烧肉"),
        ("한국 사람", "한국 사람"),  # Korean spaces are word breaks
        ("GPT-4o 模型，很快！", "gpt 4o 模型 很快"),
        ("第2集：Café", "第 2 集 café"),
        ("カタカナ 한국어", "カタ タカ カナ 한국 국어"),
        ("", ""),
        ("……！？", ""),
    ],
)
def test_search_terms(text: str, expected: str) -> None:
    assert search_terms(text) == expected


def test_text_runs_tell_cjk_from_words() -> None:
    assert list(text_runs("用Rust写 CLI工具")) == [
        ("用", True),
        ("rust", False),
        ("写", True),
        ("cli", False),
        ("工具", True),
    ]


def test_query_terms_are_distinct_or_ed_and_skip_question_words() -> None:
    assert search_query_terms("量子计算机是什么？") == "量子 | 子计 | 计算 | 算机 | 机是"
    assert search_query_terms("What is RAG? rag!") == "rag"
    assert search_query_terms("是什么") == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("document", "question", "matches"),
    [
        ("今天我们讲量子计算机的基本原理", "量子计算机是什么？", True),
        ("今天我们讲量子计算机的基本原理", "怎么做红烧肉", False),
        ("Python 的 asyncio 很好用", "asyncio 怎么用", True),
        ("什么都是浮云", "这是什么意思", False),  # question words alone never match
    ],
)
def test_postgres_matches_documents_with_query_terms(document: str, question: str, matches: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_tsvector('simple', %s) @@ to_tsquery('simple', %s)",
            [search_terms(document), search_query_terms(question)],
        )
        assert cursor.fetchone()[0] is matches


@pytest.mark.django_db
def test_postgres_ranks_the_chunk_with_more_shared_terms_first() -> None:
    chunks = ["红烧肉的做法很简单", "量子计算机利用量子比特的叠加", "计算机的历史"]
    query = search_query_terms("量子比特的叠加是什么意思")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.ord FROM unnest(%s::text[]) WITH ORDINALITY AS t(doc, ord) "
            "ORDER BY ts_rank(to_tsvector('simple', t.doc), to_tsquery('simple', %s)) DESC, t.ord",
            [[search_terms(chunk) for chunk in chunks], query],
        )
        order = [row[0] for row in cursor.fetchall()]
    assert order[0] == 2
