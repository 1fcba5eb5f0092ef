"""The pages a logged-in user works in: the video page, history, account, and their fragments.

Streams run over the websocket (chat.consumers); video.js shows streamed text as text and,
when a stream is done, swaps in the server-rendered HTML from `summary_fragment` or
`message_fragment` (Markdown rendered and sanitized by chat.rendering).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat.comments import TONES
from chat.conversations import conversation_get_for_user
from chat.llm import llm_available
from chat.mindmap import summary_chapters_read
from chat.models import Conversation, Message, Summary
from chat.quotas import usage_summary
from chat.rendering import markdown_html, part_notes_markdown
from chat.selectors import api_tokens_for_user, conversations_for_user, part_transcript, summary_current
from chat.services.api_tokens import api_token_create, api_token_revoke
from chat.styles import CUSTOM_PREFIX, STANDARD, STYLES, style_key, summary_templates_for_user
from chat.timestamps import format_timestamp
from core.errors import AppError
from videos.exports import clock, export_filename
from videos.models import VideoPart
from videos.selectors import part_or_404, video_requests_for_user

# The tones of chat.comments.TONES, as the page shows them.
TONE_LABELS = {
    "认真": gettext_lazy("认真"),
    "幽默": gettext_lazy("幽默"),
    "提问": gettext_lazy("提问"),
    "夸夸": gettext_lazy("夸夸"),
}
PURPOSE_LABELS = {
    "summary": gettext_lazy("总结"),
    "summary_map": gettext_lazy("长视频分段阅读"),
    "summary_reduce": gettext_lazy("长视频合并总结"),
    "comments": gettext_lazy("评论草稿"),
    "chat": gettext_lazy("对话"),
    "other": gettext_lazy("其他"),
}
HISTORY_LIMIT = 200
# How many of the user's earlier conversations about a part the video page lists.
EARLIER_CONVERSATIONS = 20
# `?conversation=new`: the "new chat" button's address, an empty chat (nothing is restored).
NEW_CONVERSATION = "new"
# The built-in summary styles (chat.styles.STYLES), as the style picker shows them.
STYLE_LABELS = {
    "brief": gettext_lazy("简要"),
    STANDARD: gettext_lazy("标准"),
    "study": gettext_lazy("学习笔记"),
    "qa": gettext_lazy("问答"),
}
# Where a summary's chapters came from, as the chapter list's badge says it.
CHAPTER_SOURCE_LABELS = {
    "uploader": gettext_lazy("UP 主分段"),
    "extractive": gettext_lazy("摘录（离线）"),
}
# The vendored markmap scripts (static/vendor/markmap), loaded by mindmap.js when the tab opens.
MARKMAP_SCRIPTS = ("vendor/markmap/d3.min.js", "vendor/markmap/markmap-view.js", "vendor/markmap/markmap-lib.js")


def summary_language() -> str:
    """The summary language that matches the page: English pages get English summaries."""
    return "en" if (get_language() or "").startswith("en") else "zh"


def player_url(part: VideoPart, start_seconds: int = 0) -> str:
    base = settings.BILIBILI_PLAYER_BASE
    query = {"bvid": part.video.bvid, "p": part.page, "t": start_seconds, "autoplay": 0, "danmaku": 0}
    return f"{base}?{urlencode(query)}"


def start_seconds_of(request: HttpRequest) -> int:
    """The moment a link opens the page at, `?t=<seconds>` (library citations and search hits); 0 if none or bad."""
    value = request.GET.get("t", "")
    return int(value) if value.isdigit() and len(value) <= 6 else 0


def opened_conversation(request: HttpRequest, part: VideoPart, earlier: list[Conversation]) -> Conversation | None:
    """The conversation named by ?conversation=<id> if it is the user's and about this part; else
    the user's latest one about this part (restored on reopening), none for ?conversation=new."""
    wanted = request.GET.get("conversation")
    if wanted == NEW_CONVERSATION:
        return None
    if wanted is None:
        return earlier[0] if earlier else None
    try:
        conversation = conversation_get_for_user(user=request.user, conversation_id=int(wanted))
    except (ValueError, AppError):
        return None
    return conversation if conversation.part_id == part.pk else None


def chapter_rows(summary: Summary | None, part: VideoPart) -> list[dict[str, Any]]:
    """The summary's chapters as the chapter list shows them: with the second to seek to and its
    clock (a summary stored before chapters existed gets derived ones, as the API does)."""
    chapters = summary.chapters if summary is not None else []
    if summary is not None and not chapters:
        chapters = summary_chapters_read(summary, part, part_transcript(part_id=part.pk))
    return [
        {**chapter, "seconds": chapter["start_ms"] // 1000, "clock": clock(chapter["start_ms"])} for chapter in chapters
    ]


def chapter_source_label(source: str) -> str:
    """The badge of a chapter source: the uploader's, extractive, or else made by the model."""
    return str(CHAPTER_SOURCE_LABELS.get(source, _("AI 生成")))


def style_choices(user: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The style picker's (value, label) pairs: the built-in styles, and the user's saved templates."""
    built_in = [(style, str(STYLE_LABELS.get(style, style))) for style in STYLES]
    return built_in, [(f"{CUSTOM_PREFIX}{template.pk}", template.name) for template in summary_templates_for_user(user)]


def structure_config(part: VideoPart, summary: Summary | None) -> dict[str, Any]:
    """What the chapter list, the mind map and the style picker need (video.js, mindmap.js)."""
    part_api = reverse("api-1:part_detail", args=[part.video.bvid, part.page])
    return {
        "summaryStyle": summary.style if summary is not None else STANDARD,
        "chaptersUrl": f"{part_api}/chapters",
        "mindmapUrl": f"{part_api}/mindmap",
        "markmapScripts": [static(path) for path in MARKMAP_SCRIPTS],
        "exportName": f"{part.video.bvid}-p{part.page}-mindmap",  # + .md, .html, .svg, .png
        "videoUrl": f"https://www.bilibili.com/video/{part.video.bvid}/?p={part.page}",
        "chapterSources": {source: str(label) for source, label in CHAPTER_SOURCE_LABELS.items()},
        "structureLabels": {
            "chapterSourceModel": _("AI 生成"),
            "mindmapLoading": _("正在加载思维导图…"),
            "mindmapEmpty": _("总结生成后才有思维导图。"),
            "mindmapFailed": _("思维导图加载失败"),
            "mindmapExtractive": _("摘录（离线）：由章节和字幕要点生成"),
            "exportFailed": _("导出失败"),
        },
    }


def video_page_config(part: VideoPart, conversation: Conversation | None, summary: Summary | None) -> dict[str, Any]:
    """What video.js needs, handed over as JSON (json_script)."""
    part_path = reverse("video_page", args=[part.video.bvid, part.page])
    return {
        **structure_config(part, summary),
        "socketPath": f"/ws/videos/{part.video.bvid}/{part.page}/",
        "stage": part.stage,
        "summaryLanguage": summary_language(),
        "summaryReady": summary is not None,
        "conversationId": conversation.pk if conversation else None,
        "summaryFragmentUrl": reverse("summary_fragment", args=[0]),
        "messageFragmentUrl": reverse("message_fragment", args=[0]),
        "labels": {
            **stage_labels(),
            "offline": _("离线模式"),
            "copy": _("复制"),
            "copied": _("已复制"),
            "disconnected": _("连接已断开，正在重连…"),
            "you": _("我"),
            "assistant": "ChatBili",
            "summarizing": _("正在阅读第 %(done)s/%(total)s 段…"),
            "waitingSummary": _("先生成总结…"),
            "retryAfter": _("%(seconds)s 秒后可以重试"),
            "signedOut": _("请重新登录"),
            "signIn": _("登录"),
            "noSuchPart": _("找不到这个视频分P"),
            "answering": _("ChatBili 正在回答…"),
            "answered": _("ChatBili 的回答："),
            "stopped": _("已停止回答"),
        },
        "loginUrl": f"{reverse('login')}?{urlencode({'next': part_path})}",
    }


def stage_labels() -> dict[str, str]:
    return {
        "queued": _("排队中"),
        "metadata": _("获取视频信息"),
        "transcript": _("获取字幕"),
        "chunks": _("切分字幕"),
        "embeddings": _("建立索引"),
        "ready": _("已就绪"),
        "failed": _("失败"),
    }


@login_required
@require_GET
def video_page(request: HttpRequest, bvid: str, page: int) -> HttpResponse:
    """The part's page. A GET writes nothing: a part never asked for (another part of a multi-part
    video) shows a button that POSTs to `video_retry` to start it; history records submissions."""
    part = part_or_404(bvid, page)
    summary = summary_current(part_id=part.pk, language=summary_language()) if part.is_ready else None
    earlier = list(conversations_for_user(request.user).filter(part=part, message_count__gt=0)[:EARLIER_CONVERSATIONS])
    conversation = opened_conversation(request, part, earlier)
    chapters = chapter_rows(summary, part)
    built_in_styles, template_styles = style_choices(request.user)
    context = {
        "part": part,
        "video": part.video,
        "parts": list(part.video.parts.order_by("page").only("page", "title")),
        "player_url": player_url(part, start_seconds_of(request)),
        "summary": summary,
        "summary_html": markdown_html(summary.content) if summary else "",
        "conversation": conversation,
        "earlier_conversations": earlier,
        "chat_messages": conversation.messages.exclude(status=Message.Status.STREAMING) if conversation else [],
        "cues": [(start // 1000, format_timestamp(start), text) for start, _end, text in part.transcript_cues],
        "tones": [(tone, TONE_LABELS.get(tone, tone)) for tone in TONES],
        "offline": not llm_available(),
        "stage_label": stage_labels().get(part.stage, part.stage),
        "chapters": chapters,
        "chapters_source": chapter_source_label(chapters[0].get("source", "")) if chapters else "",
        "summary_styles": built_in_styles,
        "summary_templates": template_styles,
        "config": video_page_config(part, conversation, summary),
    }
    return render(request, "chat/video.html", context)


@login_required
@require_GET
def summary_fragment(request: HttpRequest, summary_id: int) -> HttpResponse:
    """A finished summary as sanitized HTML, for video.js to put in place of the streamed text."""
    summary = get_object_or_404(Summary, pk=summary_id)
    return render(request, "chat/_summary.html", {"summary": summary, "summary_html": markdown_html(summary.content)})


@login_required
@require_GET
def message_fragment(request: HttpRequest, message_id: int) -> HttpResponse:
    """One of the user's own chat messages as sanitized HTML; anyone else's is a 404."""
    message = get_object_or_404(Message, pk=message_id, conversation__user=request.user)
    return render(request, "chat/_message.html", {"message": message})


@login_required
@require_GET
def notes_export(request: HttpRequest, bvid: str, page: int) -> HttpResponse:
    """Summary + transcript as one Markdown note (YAML front matter for Obsidian and Logseq).

    `?language=` and `?style=` pick the summary (bad_style 422; someone else's template 404)."""
    part = part_or_404(bvid, page)
    if not part.is_ready:
        raise Http404("the part is not ready")
    language = request.GET.get("language") or summary_language()
    style = style_key(style=request.GET.get("style") or STANDARD, user=request.user)
    summary = summary_current(part_id=part.pk, language=language, style=style)
    headings = (_("总结"), _("字幕"), _("（还没有生成总结）"))
    body = part_notes_markdown(
        part,
        summary.content if summary else None,
        headings=headings,
        chapters=summary.chapters if summary else (),
        chapters_heading=_("章节"),
    )
    response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(part, "md")}"'
    return response


@login_required
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    """My videos and my conversations, newest first, each a link back into the video page."""
    conversations = conversations_for_user(request.user)[:HISTORY_LIMIT]
    videos = video_requests_for_user(request.user, limit=HISTORY_LIMIT)
    return render(request, "chat/history.html", {"videos": videos, "conversations": conversations})


def render_account(request: HttpRequest, *, new_secret: str = "", status: int = 200) -> HttpResponse:
    usage = usage_summary(request.user)
    for row in usage["by_purpose"]:
        row["label"] = PURPOSE_LABELS.get(row["purpose"], row["purpose"])
    context = {"tokens": api_tokens_for_user(request.user), "usage": usage, "new_secret": new_secret}
    return render(request, "chat/account.html", context, status=status)


@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    return render_account(request)


@login_required
@require_http_methods(["GET", "POST"])
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a token and show its secret on this response only (it is never shown again).

    A GET (the language switch reloads this address) shows the account page."""
    if request.method == "GET":
        return redirect("account")
    _token, secret = api_token_create(user=request.user, name=request.POST.get("name", ""))
    return render_account(request, new_secret=secret)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of my tokens; anyone else's is a 404, exactly like a missing one."""
    try:
        api_token_revoke(user=request.user, token_id=token_id)
    except AppError as exc:
        raise Http404(exc.message(get_language())) from exc
    messages.success(request, _("令牌已吊销"))
    return redirect("account")
