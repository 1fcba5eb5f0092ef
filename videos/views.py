"""Pages about videos themselves: home with the link box, submitting a link, retrying, transcripts.

The video page and everything generated live in chat.views (videos never imports chat). GET
requests only read: recording a user's videos and queuing work happen on POST.

The link box is on home for everyone. Submitting signed out asks to sign in and keeps the link
through the login (`next=/?link=…` fills the box again). A link that cannot be used goes back to
the form (post/redirect/get): the message and the pasted text ride in the session for one page.
A collection link (合集, series, favourites) is handed to the collections page's form as it was
posted (a 307 keeps the method and body, `?from=home` says where it came from): the quota check and
the ingest are done there, once, and a refused collection link comes back here with its message
(`home_with_refused_link`) like a refused video link.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import AppError
from videos.bilibili_collections import collection_ref_from_text
from videos.exports import export_filename, part_transcript_json, part_transcript_srt, part_transcript_vtt
from videos.selectors import part_or_404, video_requests_for_user
from videos.services import video_request_record
from videos.submission import part_ingest_enqueue, video_submit

RECENT_VIDEOS = 8
MAX_LINK_LENGTH = 2000
# The kinds of link the box takes, shown under it (each fills the box: /?link=…).
EXAMPLE_LINKS = (
    "https://www.bilibili.com/video/BV17x411w7KC?p=2",
    "BV117411r7R1",
    "av170001",
)
# The session key that carries a refused link and its message back to the form, for one page.
LINK_FORM_SESSION_KEY = "link_form"
# The query a collection link is handed on with, so that its refusal comes back to home's form.
FROM_HOME = {"from": "home"}


def render_home(request: HttpRequest, *, link: str = "", error: str = "", status: int = 200) -> HttpResponse:
    recent = video_requests_for_user(request.user, limit=RECENT_VIDEOS) if request.user.is_authenticated else []
    examples = [(example, f"{reverse('home')}?{urlencode({'link': example})}") for example in EXAMPLE_LINKS]
    context = {"link": link, "error": error, "recent": list(recent), "examples": examples}
    return render(request, "videos/home.html", context, status=status)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The link box, filled from a refused submission (session) or from `?link=` (examples, login)."""
    refused = request.session.pop(LINK_FORM_SESSION_KEY, None) if hasattr(request, "session") else None
    if isinstance(refused, dict):
        return render_home(request, link=str(refused.get("link", "")), error=str(refused.get("error", "")))
    return render_home(request, link=request.GET.get("link", "").strip()[:MAX_LINK_LENGTH])


@require_http_methods(["GET", "POST"])
async def submit(request: HttpRequest) -> HttpResponse:
    """Resolve the pasted link, queue its ingestion and open the video page. A refused link goes
    back to the form with its message; signed out, the login keeps the link (see the top).

    A GET (the language switch on an error page reloads this address) goes home."""
    if request.method == "GET":
        return redirect("home")
    link = request.POST.get("link", "").strip()[:MAX_LINK_LENGTH]
    user = await request.auser()
    if not user.is_authenticated:
        home_with_link = f"{reverse('home')}?{urlencode({'link': link})}" if link else reverse("home")
        return redirect_to_login(home_with_link)
    if collection_ref_from_text(link) is not None:
        return redirect(f"{reverse('collection_create')}?{urlencode(FROM_HOME)}", preserve_request=True)
    try:
        part = await video_submit(link)
    except AppError as error:
        return await home_with_refused_link(request, link=link, error=error)
    await sync_to_async(part_ingest_enqueue)(part_id=part.pk)
    await sync_to_async(video_request_record)(user=user, part=part)
    return redirect("video_page", bvid=part.video.bvid, page=part.page)


async def home_with_refused_link(request: HttpRequest, *, link: str, error: AppError) -> HttpResponse:
    """Back to home's link box, filled with the refused link and its message (for one page)."""
    await request.session.aset(LINK_FORM_SESSION_KEY, {"link": link, "error": error.message()})
    return redirect(f"{reverse('home')}#link-form")


@login_required
@require_GET
def video_redirect(request: HttpRequest, bvid: str) -> HttpResponse:
    """`/videos/BV…/` opens the first part."""
    return redirect("video_page", bvid=part_or_404(bvid, 1).video.bvid, page=1)


@login_required
@require_POST
def retry(request: HttpRequest, bvid: str, page: int) -> HttpResponse:
    """Ingest a failed part again (a ready or running part is left alone)."""
    part = part_or_404(bvid, page)
    if not part.is_ready:
        part_ingest_enqueue(part_id=part.pk)
    return redirect("video_page", bvid=bvid, page=page)


@login_required
@require_GET
def transcript_export(request: HttpRequest, bvid: str, page: int, suffix: str) -> HttpResponse:
    """The part's transcript as an SRT, WebVTT or JSON download."""
    part = part_or_404(bvid, page)
    if not part.transcript_cues:
        raise Http404("no transcript yet")
    if suffix == "srt":
        body, content_type = part_transcript_srt(part), "application/x-subrip; charset=utf-8"
    elif suffix == "vtt":
        body, content_type = part_transcript_vtt(part), "text/vtt; charset=utf-8"
    else:
        body = json.dumps(part_transcript_json(part), ensure_ascii=False, indent=2)
        content_type = "application/json; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{export_filename(part, suffix)}"'
    return response
