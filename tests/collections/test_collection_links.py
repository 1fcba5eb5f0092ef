"""Collection links and ids, read without the network."""

from __future__ import annotations

import pytest

from videos.bilibili_collections import CollectionRef, collection_ref_from_text


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("https://space.bilibili.com/7/channel/collectiondetail?sid=4001", CollectionRef("season", "4001", 7)),
        ("https://space.bilibili.com/7/lists/4001?type=season", CollectionRef("season", "4001", 7)),
        ("space.bilibili.com/7/lists/6001?type=series&spm_id_from=333", CollectionRef("series", "6001", 7)),
        ("https://space.bilibili.com/7/channel/seriesdetail?sid=6001", CollectionRef("series", "6001", 7)),
        ("https://space.bilibili.com/1/favlist?fid=5001&ftype=create", CollectionRef("favourites", "5001", 1)),
        ("https://www.bilibili.com/medialist/detail/ml5002?type=1", CollectionRef("favourites", "5002")),
        ("ml5002", CollectionRef("favourites", "5002")),
    ],
)
def test_collection_links(text: str, ref: CollectionRef) -> None:
    assert collection_ref_from_text(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        "https://www.bilibili.com/video/BV1Zs411o7bm",
        "https://space.bilibili.com/7",
        "https://space.bilibili.com/7/channel/collectiondetail?sid=abc",
        "https://example.com/7/lists/4001?type=season",
        "",
    ],
)
def test_not_collection_links(text: str) -> None:
    assert collection_ref_from_text(text) is None


def test_source_urls_are_canonical() -> None:
    assert CollectionRef("season", "4001", 7).source_url == "https://space.bilibili.com/7/lists/4001?type=season"
    assert CollectionRef("favourites", "5002").source_url == "https://www.bilibili.com/medialist/detail/ml5002"
