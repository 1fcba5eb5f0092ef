"""Keyword search for Chinese text without a Chinese parser in PostgreSQL.

The embedded PostgreSQL has neither zhparser nor pg_trgm, and its `simple` configuration treats
a run of Chinese characters as one word. So the text is rewritten before it reaches
`to_tsvector('simple', …)`: every run of CJK characters becomes its overlapping character
bigrams, and Latin words and numbers become lower-case words. A question rewritten the same way
matches any chunk that shares a two-character term with it.

Chinese and Japanese put no spaces between words, so whitespace between two Han or kana
characters is a subtitle line boundary (chunks keep one, see videos.chunking), not a word
boundary: the bigram across it is kept, as if the lines were written together.

    >>> search_terms("量子计算机的原理 GPT-4o")
    '量子 子计 计算 算机 机的 的原 原理 gpt 4o'
    >>> search_query_terms("量子计算机是什么？")
    '量子 | 子计 | 计算 | 算机 | 机是'
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# Han ideographs (with extensions and compatibility forms), kana and hangul.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003ffff"
_UNSPACED = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003ffff"  # no hangul
_LINE_BREAK_IN_CJK = re.compile(rf"(?<=[{_UNSPACED}])\s+(?=[{_UNSPACED}])")
_TERM_RUNS = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>(?:(?![{_CJK}])[^\W_])+)")

# Terms of a question that say nothing about its subject ("what is", "how to", particles).
QUESTION_STOP_TERMS = frozenset(
    {
        *"的了吗呢吧啊呀么是在和与及或也就都还把被",
        *"什么 怎么 怎样 为什 么样 如何 哪些 哪个 哪里 多少 是不 不是 是否 是什 有没 没有 有什".split(),
        *"请问 一下 告诉 我们 你们 他们 这个 那个 这些 那些 就是 可以 能不 不能 讲了 说了 提到 里面".split(),
        *"a an the is are was were do does did what which who how why when where of to in on and or".split(),
    }
)


def text_runs(text: str) -> Iterator[tuple[str, bool]]:
    """The runs of CJK characters (True) and lower-cased words (False) in `text`, in order
    (Han and kana on both sides of a whitespace make one run)."""
    for match in _TERM_RUNS.finditer(_LINE_BREAK_IN_CJK.sub("", text)):
        run = match.group("cjk")
        yield (run, True) if run is not None else (match.group("word").lower(), False)


def _terms(text: str) -> list[str]:
    terms: list[str] = []
    for run, is_cjk in text_runs(text):
        if not is_cjk or len(run) == 1:
            terms.append(run)
        else:
            terms.extend(run[index : index + 2] for index in range(len(run) - 1))
    return terms


def search_terms(text: str) -> str:
    """The document to store with `to_tsvector('simple', search_terms(text))`."""
    return " ".join(_terms(text))


def search_query_terms(query: str) -> str:
    """An OR query for `to_tsquery('simple', …)`: the question's distinct terms joined by " | ".

    Question words and particles are left out; "" means nothing is left to search for.
    """
    distinct = dict.fromkeys(term for term in _terms(query) if term not in QUESTION_STOP_TERMS)
    return " | ".join(distinct)
