"""Stored Markdown → sanitized HTML with seekable timestamps, and the Markdown export."""

from __future__ import annotations

import pytest

from chat.rendering import markdown_html, part_notes_markdown, sanitize_html
from videos.exports import part_front_matter
from videos.models import Video, VideoPart


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"),
        ('<img src=x onerror="alert(1)">', '<p>&lt;img src=x onerror="alert(1)"&gt;</p>'),
        ("[click](javascript:alert(1))", "<p>[click](javascript:alert(1))</p>"),
        ("**粗体** 和 `<b>`", "<p><strong>粗体</strong> 和 <code>&lt;b&gt;</code></p>"),
        ("![pixel](https://e.example/p.png)",
         '<p>!<a href="https://e.example/p.png" rel="noopener noreferrer nofollow">pixel</a></p>'),
    ],
)  # fmt: skip
def test_html_in_markdown_shows_as_text(markdown: str, expected: str) -> None:
    assert markdown_html(markdown).strip() == expected


def test_timestamps_become_seek_links_only_in_text() -> None:
    html = markdown_html("- 📌 [01:05] 要点 [1:02:03]\n- [99:99] 不是时间\n\n```\n[00:10] 代码\n```")

    assert '<a class="seek" href="#t=65" data-seek="65" rel="noopener noreferrer nofollow">[01:05]</a>' in html
    assert 'data-seek="3723"' in html
    assert "[99:99]" in html and 'data-seek="5999"' not in html
    assert "<code>[00:10] 代码\n</code>" in html


def test_a_link_title_cannot_smuggle_a_seek_link() -> None:
    html = markdown_html('[站外](https://example.com "[00:10]")')

    assert 'title="[00:10]"' in html
    assert "data-seek" not in html


def test_tables_keep_their_alignment() -> None:
    assert '<td style="text-align:right">1</td>' in markdown_html("|a|\n|-:|\n|1|")


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<a href="#t=5" data-seek="5" class="seek evil" onclick="x()">[00:05]</a>',
         '<a href="#t=5" data-seek="5" class="seek" rel="noopener noreferrer nofollow">[00:05]</a>'),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ("<p>a<script>alert(1)</script><img src=x onerror=alert(1)></p>", "<p>a</p>"),
        ('<table><tbody><tr><td style="color:red;text-align:left">1</td></tr></tbody></table>',
         '<table><tbody><tr><td style="text-align:left">1</td></tr></tbody></table>'),
        ("<iframe src=//evil></iframe><style>*{}</style>b", "b"),
    ],
)  # fmt: skip
def test_the_sanitizer_keeps_only_the_allow_list(html: str, expected: str) -> None:
    assert sanitize_html(html) == expected


@pytest.mark.django_db
def test_notes_markdown_has_the_summary_under_its_heading_and_the_transcript() -> None:
    video = Video.objects.create(bvid="BV1xx411c7mD", aid=2, title="红烧肉")
    part = VideoPart.objects.create(video=video, page=1, cid=7, transcript_cues=[[0, 1500, "大家好"]])

    notes = part_notes_markdown(part, "## 摘要\n好吃。\n", headings=("总结", "字幕", "（无）"))

    assert notes == (
        part_front_matter(part)
        + "\n# 红烧肉\n\n<https://www.bilibili.com/video/BV1xx411c7mD>\n\n## 总结\n\n### 摘要\n好吃。\n\n"
        "## 字幕\n\n- [00:00] 大家好\n"
    )
    assert "## 总结\n\n（无）\n" in part_notes_markdown(part, None, headings=("总结", "字幕", "（无）"))


@pytest.mark.django_db
def test_notes_markdown_is_a_note_with_front_matter_and_chapters() -> None:
    video = Video.objects.create(bvid="BV1xx411c7mD", aid=2, title="红烧肉", owner_name="阿婆", duration_seconds=90)
    part = VideoPart.objects.create(video=video, page=1, cid=7, transcript_cues=[[0, 1500, "大家好"]])
    chapters = [
        {"start_ms": 0, "end_ms": 60_000, "title": "备料", "gist": "选五花肉"},
        {"start_ms": 60_000, "end_ms": 90_000, "title": "收汁", "gist": ""},
    ]

    notes = part_notes_markdown(
        part,
        "## 摘要\n好吃。\n",
        headings=("Summary", "Transcript", "-"),
        chapters=chapters,
        chapters_heading="Chapters",
    )

    assert notes == (
        "---\n"
        'title: "红烧肉"\n'
        'url: "https://www.bilibili.com/video/BV1xx411c7mD"\n'
        'bvid: "BV1xx411c7mD"\n'
        "part: 1\n"
        'part_title: ""\n'
        'uploader: "阿婆"\n'
        'duration: "01:30"\n'
        "duration_seconds: 90\n"
        "tags:\n"
        '  - "bilibili"\n'
        '  - "chatbili"\n'
        "chapters:\n"
        '  - "00:00 备料"\n'
        '  - "01:00 收汁"\n'
        "---\n"
        "\n"
        "# 红烧肉\n\n"
        "<https://www.bilibili.com/video/BV1xx411c7mD>\n\n"
        "## Chapters\n\n"
        "- [00:00] 备料 — 选五花肉\n"
        "- [01:00] 收汁\n\n"
        "## Summary\n\n"
        "### 摘要\n好吃。\n\n"
        "## Transcript\n\n"
        "- [00:00] 大家好\n"
    )
