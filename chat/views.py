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
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from chat.comments import TONES
from chat.conversations import conversation_get_for_user
from chat.llm import llm_available
from chat.models import Conversation, Message, Summary
from chat.quotas import usage_summary
from chat.rendering import markdown_html, part_notes_markdown
from chat.selectors import api_tokens_for_user, conversations_for_user, summary_current
from chat.services.api_tokens import api_token_create, api_token_revoke
from chat.timestamps import format_timestamp
from core.errors import AppError
from videos.exports import export_filename
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


def summary_language() -> str:
    """The summary language that matches the page: English pages get English summaries."""
    return "en" if (get_language() or "").startswith("en") else "zh"


def player_url(part: VideoPart) -> str:
    base = settings.BILIBILI_PLAYER_BASE
    query = {"bvid": part.video.bvid, "p": part.page, "t": 0, "autoplay": 0, "danmaku": 0}
    return f"{base}?{urlencode(query)}"


def opened_conversation(request: HttpRequest, part: VideoPart) -> Conversation | None:
    """The conversation named by ?conversation=<id>, if it is the user's and about this part."""
    try:
        conversation = conversation_get_for_user(user=request.user, conversation_id=int(request.GET["conversation"]))
    except (KeyError, ValueError, AppError):
        return None
    return conversation if conversation.part_id == part.pk else None


def video_page_config(part: VideoPart, conversation: Conversation | None, summary: Summary | None) -> dict[str, Any]:
    """What video.js needs, handed over as JSON (json_script)."""
    part_path = reverse("video_page", args=[part.video.bvid, part.page])
    return {
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
    conversation = opened_conversation(request, part)
    context = {
        "part": part,
        "video": part.video,
        "parts": list(part.video.parts.order_by("page").only("page", "title")),
        "player_url": player_url(part),
        "summary": summary,
        "summary_html": markdown_html(summary.content) if summary else "",
        "conversation": conversation,
        "chat_messages": conversation.messages.exclude(status=Message.Status.STREAMING) if conversation else [],
        "cues": [(start // 1000, format_timestamp(start), text) for start, _end, text in part.transcript_cues],
        "tones": [(tone, TONE_LABELS.get(tone, tone)) for tone in TONES],
        "offline": not llm_available(),
        "stage_label": stage_labels().get(part.stage, part.stage),
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
    """Summary + transcript as one Markdown download."""
    part = part_or_404(bvid, page)
    if not part.is_ready:
        raise Http404("the part is not ready")
    language = request.GET.get("language") or summary_language()
    summary = summary_current(part_id=part.pk, language=language)
    headings = (_("总结"), _("字幕"), _("（还没有生成总结）"))
    body = part_notes_markdown(part, summary.content if summary else None, headings=headings)
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
