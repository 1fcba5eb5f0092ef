"""The My library page: my parts and collections with filters, search across my videos (hits are
links to the video page at the moment), cross-video chat over the library or one collection
(static/js/library.js, on the library websocket) and a collection's series summary."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from chat.library import (
    STATUSES,
    library_conversation_get_for_user,
    library_conversations_for_user,
    library_parts,
    library_search,
    library_uploaders,
)
from chat.llm import llm_available
from chat.models import Conversation, Message, SeriesSummary
from chat.rendering import markdown_html
from core.errors import AppError
from videos.exports import clock
from videos.selectors import collection_get_for_user, collections_for_user

STATUS_LABELS = {"ready": gettext_lazy("已就绪"), "in_progress": gettext_lazy("处理中"), "failed": gettext_lazy("失败")}
LIBRARY_CONVERSATIONS_SHOWN = 10
LABEL = re.compile(r"\[V\d{1,9} (?:\d{1,2}:)?\d{2}:\d{2}\]")


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and len(value) <= 18 else None


def _filters(request: HttpRequest) -> dict[str, Any]:
    """The page's filters from its query: bad values are ignored, someone else's collection too."""
    status = request.GET.get("status") if request.GET.get("status") in STATUSES else None
    collection_id = _int_or_none(request.GET.get("collection"))
    collection = None
    if collection_id is not None:
        try:
            collection = collection_get_for_user(user=request.user, collection_id=collection_id)
        except AppError:
            collection_id = None
    return {
        "status": status,
        "uploader": (request.GET.get("uploader") or "").strip()[:200] or None,
        "collection_id": collection_id,
        "collection": collection,
        "q": (request.GET.get("q") or "").strip()[:500],
    }


def _hits(request: HttpRequest, filters: dict[str, Any]) -> tuple[list[dict], str]:
    """Search hits as the page shows them, or the error that stopped the search."""
    if not filters["q"]:
        return [], ""
    try:
        hits = library_search(user=request.user, query=filters["q"], collection_id=filters["collection_id"])
    except AppError as exc:
        return [], exc.message()
    return [{**hit.to_dict(), "clock": clock(hit.start_ms)} for hit in hits], ""


def message_rows(conversation: Conversation | None) -> list[dict[str, Any]]:
    """The conversation's finished messages: answers as sanitized HTML with their citations."""
    if conversation is None:
        return []
    rows = []
    for message in conversation.messages.exclude(status=Message.Status.STREAMING).order_by("created_at", "id"):
        citations = [{**citation, "clock": clock(citation["start_ms"])} for citation in message.citations]
        html = linked_labels(markdown_html(message.content), citations)
        rows.append({"message": message, "html": html, "citations": citations})
    return rows


def linked_labels(html: str, citations: list[dict[str, Any]]) -> SafeString:
    """Sanitized answer HTML with each cited label ("[V12 03:15]") as a link to its moment.

    A label is digits, "V", ":" and brackets only, so it reads the same escaped and unescaped."""
    for citation in citations:
        label = str(citation.get("label", ""))
        if LABEL.fullmatch(label):
            html = html.replace(
                label, format_html('<a class="library-moment" href="{}">{}</a>', citation["url"], label)
            )
    return mark_safe(html)  # noqa: S308 - markdown_html sanitized it; the links are format_html's


def _opened_conversation(request: HttpRequest, collection_id: int | None) -> Conversation | None:
    """?conversation=<id>, if it is the user's and about this scope (library or this collection)."""
    conversation_id = _int_or_none(request.GET.get("conversation"))
    if conversation_id is None:
        return None
    try:
        conversation = library_conversation_get_for_user(user=request.user, conversation_id=conversation_id)
    except AppError:
        return None
    return conversation if conversation.collection_id == collection_id else None


def _config(filters: dict[str, Any], conversation: Conversation | None) -> dict[str, Any]:
    collection_id = filters["collection_id"]
    socket_path = f"/ws/collections/{collection_id}/" if collection_id else "/ws/library/"
    return {
        "socketPath": socket_path,
        "collectionId": collection_id,
        "conversationId": conversation.pk if conversation else None,
        "libraryUrl": reverse("library"),
        "labels": {
            "me": _("我"),
            "thinking": _("正在检索这些视频…"),
            "cited": _("引用"),
            "offline": _("离线模式"),
            "disconnected": _("连接已断开，正在重连…"),
            "closed": _("无法连接：请重新登录后再试"),
            "cancelled": _("已停止"),
            "seriesCached": _("已缓存"),
        },
    }


@login_required
@require_GET
def library_page(request: HttpRequest) -> HttpResponse:
    """My library: filters, search, my parts and collections, cross-video chat and series summary."""
    filters = _filters(request)
    hits, search_error = _hits(request, filters)
    conversation = _opened_conversation(request, filters["collection_id"])
    parts = library_parts(
        user=request.user,
        status=filters["status"],
        uploader=filters["uploader"],
        collection_id=filters["collection_id"],
    )
    series = None
    if filters["collection"] is not None:
        series = SeriesSummary.objects.filter(
            collection_id=filters["collection_id"], status=SeriesSummary.Status.COMPLETE
        ).first()
    context = {
        **filters,
        "parts": list(parts[:500]),
        "collections": list(collections_for_user(request.user)),
        "uploaders": library_uploaders(user=request.user),
        "statuses": [(status, str(STATUS_LABELS[status])) for status in STATUSES],
        "hits": hits,
        "search_error": search_error,
        "conversation": conversation,
        "chat_messages": message_rows(conversation),
        "earlier_conversations": list(
            library_conversations_for_user(user=request.user, collection_id=filters["collection_id"])
            .filter(message_count__gt=0)
            .filter(**({} if filters["collection_id"] else {"collection__isnull": True}))[:LIBRARY_CONVERSATIONS_SHOWN]
        ),
        "series": series,
        "series_html": linked_labels(markdown_html(series.content), series.links) if series else "",
        "offline": not llm_available(),
        "config": _config(filters, conversation),
    }
    return render(request, "library/library.html", context)
