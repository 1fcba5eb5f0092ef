"""The API of a part's structure, read from its current summary: chapters and the mind map.

Neither endpoint calls the LLM or writes anything: they read the summary the summary endpoint
made (same `language` and `style`). part_not_found 404, part_not_ready / ingest_failed 409 (the
gate's errors), summary_in_progress 409 while it is being made, summary_not_found 404 before.
Mounted on chat.api's router.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from chat.mindmap import part_chapters, part_mindmap
from chat.schemas import NO_NUL, STYLE_DESCRIPTION, Language
from chat.styles import style_key
from core.api import error_responses
from videos.api import Bvid, Page
from videos.selectors import part_get_or_404

router = Router(tags=["summaries"])

ChapterSource = Literal["uploader", "sections", "llm", "extractive"]


class OutlineQuery(Schema):
    language: Language = "zh"
    style: str = Field("standard", min_length=1, max_length=40, pattern=NO_NUL, description=STYLE_DESCRIPTION)


class ChapterOut(Schema):
    start_ms: int = Field(description="0 for the first chapter, else the start of a real transcript line")
    end_ms: int = Field(description="The next chapter's start; the part's end for the last one")
    title: str
    gist: str = Field(description="One line on what the chapter says")
    source: ChapterSource = Field(
        description="uploader (their own chapters), sections (a long part's map sections), "
        "llm (a structured-output call), extractive (quoted from the transcript, offline)"
    )


class ChaptersOut(Schema):
    bvid: str
    page: int
    language: str
    style: str
    summary_id: int
    offline: bool
    chapters: list[ChapterOut] = Field(description="Tiling the part from 0 to its end, no gaps or overlaps")


class MindMapNodeOut(Schema):
    id: int
    parent: int | None
    depth: int = Field(description="0 root, 1 chapter, 2 key point, 3 detail")
    kind: Literal["root", "chapter", "point", "detail"]
    text: str
    start_ms: int = Field(description="The node's moment: the start of a real transcript line (0 for the root)")
    url: str = Field(description="The Bilibili player at that moment (t= in whole seconds)")


class MindMapOut(Schema):
    bvid: str
    page: int
    language: str
    style: str
    summary_id: int
    offline: bool
    extractive: bool = Field(description="Made without an LLM (offline, or extractive chapters only)")
    markdown: str = Field(description="A markmap-compatible outline: chapters → key points → details")
    nodes: list[MindMapNodeOut]


@router.get(
    "/videos/{bvid}/parts/{page}/chapters",
    response={200: ChaptersOut, **error_responses(404, 409)},
)
def chapters_get(request: HttpRequest, bvid: Bvid, page: Page, query: Query[OutlineQuery]) -> dict:
    """The chapters of the part's current summary in `language` and `style`."""
    part = part_get_or_404(bvid=bvid, page=page, with_transcript=True)
    style = style_key(style=query.style, user=request.auth)
    found = part_chapters(part=part, language=query.language, style=style)
    return {"bvid": bvid, "page": page, "language": query.language, "style": style, **found}


@router.get(
    "/videos/{bvid}/parts/{page}/mindmap",
    response={200: MindMapOut, **error_responses(404, 409)},
)
def mindmap_get(request: HttpRequest, bvid: Bvid, page: Page, query: Query[OutlineQuery]) -> dict:
    """The part's mind map (chapters → key points → details, each node at its moment) as a
    markmap-compatible Markdown outline and as nodes; available offline too."""
    part = part_get_or_404(bvid=bvid, page=page, with_transcript=True)
    style = style_key(style=query.style, user=request.auth)
    found = part_mindmap(part=part, language=query.language, style=style)
    return {"bvid": bvid, "page": page, "language": query.language, "style": style, **found}
