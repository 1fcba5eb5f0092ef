"""Offline mode (no API key): extractive summaries and comment drafts, with no LLM at all.

The summary has the same sections as the LLM's. Its key points are passages picked by TextRank
(centrality in a graph of TF-IDF cosine similarities over CJK bigrams and words) with a
timeline constraint: the part is cut into as many stretches as there are key points and each
stretch gives its most central passage, less its similarity to passages already picked (MMR).
Each point quotes that passage's most central sentence at the start of the transcript line
(cue) the sentence begins in. The
abstract is the most central sentences of the whole part, in time order. Everything is labelled
offline, in the text and in the data.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from chat.highlights import Highlight
from chat.selectors import Passage
from chat.timestamps import format_timestamp
from videos.search_text import search_terms

POINT_EMOJI = ["📌", "💡", "🔍", "🎯", "📝", "⭐", "🧩", "🚀", "📊", "🔑"]
MIN_POINTS, MAX_POINTS = 5, 10
POINT_MAX_CHARS = 70
ABSTRACT_SENTENCES = 3
ABSTRACT_MAX_CHARS = 240
MMR_LAMBDA = 0.7
# Sentences this similar say the same thing; the abstract keeps one of them.
DUPLICATE_SIMILARITY = 0.6
DAMPING = 0.85
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])\s*|(?<=[.])\s+")

Vector = dict[str, float]


@dataclass(frozen=True)
class ExtractiveSummary:
    abstract: str
    key_points: list[dict]  # [{"start_ms", "text"}]


def split_sentences(text: str) -> list[str]:
    return [sentence.strip() for sentence in _SENTENCE_END.split(text) if sentence and sentence.strip()]


def tfidf_vectors(texts: Sequence[str]) -> list[Vector]:
    """Unit-length TF-IDF vectors over CJK bigrams and lower-cased words."""
    term_lists = [search_terms(text).split() for text in texts]
    document_frequency = Counter(term for terms in term_lists for term in set(terms))
    total = len(texts)
    vectors = []
    for terms in term_lists:
        weights = {
            term: (1 + math.log(count)) * math.log(1 + total / document_frequency[term])
            for term, count in Counter(terms).items()
        }
        norm = math.sqrt(sum(weight * weight for weight in weights.values())) or 1.0
        vectors.append({term: weight / norm for term, weight in weights.items()})
    return vectors


def cosine(a: Vector, b: Vector) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(weight * b.get(term, 0.0) for term, weight in a.items())


def textrank(vectors: Sequence[Vector], iterations: int = 30) -> list[float]:
    """PageRank over the cosine-similarity graph; isolated nodes keep the teleport score."""
    count = len(vectors)
    if count == 0:
        return []
    similarity = [[0.0] * count for _ in range(count)]
    for i in range(count):
        for j in range(i + 1, count):
            similarity[i][j] = similarity[j][i] = cosine(vectors[i], vectors[j])
    out_weight = [sum(row) or 1.0 for row in similarity]
    scores = [1.0 / count] * count
    for _ in range(iterations):
        scores = [
            (1 - DAMPING) / count
            + DAMPING * sum(similarity[j][i] / out_weight[j] * scores[j] for j in range(count) if similarity[j][i])
            for i in range(count)
        ]
    return scores


def extractive_summary(passages: Sequence[Passage]) -> ExtractiveSummary:
    """Key points that cover the timeline and an abstract, all quoted from the transcript."""
    if not passages:
        return ExtractiveSummary("", [])
    vectors = tfidf_vectors([passage.text for passage in passages])
    scores = textrank(vectors)
    picked = _pick_across_timeline(passages, vectors, scores, _point_count(len(passages)))
    key_points = []
    for index in picked:
        sentence = _central_sentence(passages[index].text)
        key_points.append({"start_ms": passages[index].start_of(sentence), "text": _clip(sentence, POINT_MAX_CHARS)})
    return ExtractiveSummary(_abstract(passages), key_points)


def _point_count(passage_count: int) -> int:
    return min(passage_count, max(MIN_POINTS, min(MAX_POINTS, passage_count // 3)))


def _pick_across_timeline(
    passages: Sequence[Passage], vectors: Sequence[Vector], scores: Sequence[float], count: int
) -> list[int]:
    """One passage per stretch of the timeline: the best of centrality minus redundancy (MMR)."""
    first, last = passages[0].start_ms, passages[-1].start_ms
    span = max(1, last - first + 1)
    top = max(scores) or 1.0
    picked: list[int] = []
    for stretch in range(count):
        low, high = first + span * stretch / count, first + span * (stretch + 1) / count
        members = [i for i, passage in enumerate(passages) if low <= passage.start_ms < high and i not in picked]
        if not members:
            members = [i for i in range(len(passages)) if i not in picked]
        best = max(members, key=lambda i: _mmr(i, vectors, scores, top, picked))
        picked.append(best)
    return sorted(picked, key=lambda i: passages[i].start_ms)


def _mmr(index: int, vectors: Sequence[Vector], scores: Sequence[float], top: float, picked: list[int]) -> float:
    redundancy = max((cosine(vectors[index], vectors[other]) for other in picked), default=0.0)
    return MMR_LAMBDA * scores[index] / top - (1 - MMR_LAMBDA) * redundancy


def _central_sentence(text: str) -> str:
    sentences = split_sentences(text) or [text]
    if len(sentences) == 1:
        return sentences[0]
    whole, *vectors = tfidf_vectors([text, *sentences])
    # Very short sentences ("对。") are rarely a point, however central their words are.
    scores = [cosine(vector, whole) * min(1.0, len(s) / 12) for vector, s in zip(vectors, sentences, strict=True)]
    return sentences[max(range(len(sentences)), key=scores.__getitem__)]


def _abstract(passages: Sequence[Passage]) -> str:
    """The most central sentences, each unlike those before it (MMR), in time order."""
    sentences = [sentence for passage in passages for sentence in split_sentences(passage.text)]
    # A line said again and again ("嗯，我们接着看。") is filler, however central its copies make it.
    sentences = list(dict.fromkeys(sentence for sentence in sentences if len(sentence) >= 6)) or sentences
    if not sentences:
        return ""
    vectors = tfidf_vectors(sentences)
    scores = textrank(vectors) if len(sentences) <= 400 else _centroid_scores(vectors)
    top = max(scores) or 1.0
    picked: list[int] = []
    candidates = set(range(len(sentences)))
    while candidates and len(picked) < ABSTRACT_SENTENCES:
        best = max(candidates, key=lambda i: (_mmr(i, vectors, scores, top, picked), -i))
        picked.append(best)
        candidates = {i for i in candidates - {best} if cosine(vectors[i], vectors[best]) < DUPLICATE_SIMILARITY}
    return _clip(" ".join(sentences[i] for i in sorted(picked)), ABSTRACT_MAX_CHARS)


def _centroid_scores(vectors: Sequence[Vector]) -> list[float]:
    """Similarity to the whole text: TextRank's stand-in for very long transcripts (linear time)."""
    centroid: Counter[str] = Counter()
    for vector in vectors:
        centroid.update(vector)
    return [cosine(vector, dict(centroid)) for vector in vectors]


def _clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def extractive_markdown(
    summary: ExtractiveSummary, *, abstract_heading: str, points_heading: str, english: bool
) -> str:
    """The 摘要 and 要点 sections of an offline summary, with its offline label."""
    label = (
        "> 🤖 Offline summary: no LLM is configured, so these are excerpts from the transcript."
        if english
        else "> 🤖 离线摘要：未配置大模型，以下内容摘自字幕原文。"
    )
    points = [
        f"- {POINT_EMOJI[number % len(POINT_EMOJI)]} {format_timestamp(point['start_ms'])} {point['text']}"
        for number, point in enumerate(summary.key_points)
    ]
    return f"{label}\n\n## {abstract_heading}\n{summary.abstract}\n\n## {points_heading}\n" + "\n".join(points) + "\n"


# --- Comment drafts -----------------------------------------------------------------------------


def offline_comment_drafts(
    tone: str, *, title: str, key_points: Sequence[dict], highlights: Sequence[Highlight]
) -> list[str]:
    """Three drafts from the key sentences and the danmaku highlights, one template per tone."""
    points = list(key_points) or [{"start_ms": 0, "text": title}]
    hot = list(highlights)
    drafts = []
    for number in range(3):
        point = points[(number * max(1, len(points) // 3)) % len(points)]
        moment = hot[number % len(hot)] if hot else None
        drafts.append(_draft(tone, number, title, point, moment))
    return drafts


def _draft(tone: str, number: int, title: str, point: dict, moment: Highlight | None) -> str:
    stamp = format_timestamp(point["start_ms"])
    quote = _clip(str(point["text"]).lstrip("".join(POINT_EMOJI) + " "), 40)
    danmaku = moment.texts[0][0] if moment and moment.texts else ""
    moment_stamp = format_timestamp(moment.start_ms) if moment else stamp
    if tone == "幽默":
        options = [
            f"{moment_stamp} 弹幕全在刷「{danmaku}」，我笑出了声" if danmaku else f"{stamp} 这段我反复看了三遍，笑死",
            f"看完《{_clip(title, 20)}》，我宣布{stamp}是名场面",
            f"“{quote}” 这句话我要设成签名了（bushi",
        ]
    elif tone == "提问":
        options = [
            f"想请教一下，{stamp} 提到的「{quote}」具体是怎么回事？",
            f"{moment_stamp} 大家都在刷「{danmaku}」，有没有人解释一下为什么？"
            if danmaku
            else f"{stamp} 这里没太看懂，有大佬讲讲吗？",
            "UP主后面会出续集详细讲讲吗？",
        ]
    else:
        options = [
            f"{stamp} 这段讲得很清楚：{quote}",
            f"看完最大的收获是「{quote}」，感谢UP主的整理",
            f"{moment_stamp} 这里弹幕都在刷「{danmaku}」，确实是全片高潮" if danmaku else f"{stamp} 这个观点值得细品",
        ]
    return options[number]
