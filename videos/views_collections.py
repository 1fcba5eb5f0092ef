"""Collection pages: the user's collections with a form for a new one, and one collection's progress.

Only the owner sees a collection (anyone else gets the 404 page). The form posts to
chat.collections_entry (the quota is checked there); the progress page follows the items through
the API (static/js/collection.js).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import AppError
from videos.models import Collection
from videos.selectors import (
    collection_get_for_user,
    collection_item_progress,
    collection_items,
    collection_progress,
    collections_for_user,
)
from videos.submission import collection_retry_failed_enqueue

FORM_ERROR_SESSION_KEY = "collection_form"  # written by chat.collections_entry


@login_required
@require_GET
def collection_list(request: HttpRequest) -> HttpResponse:
    """The user's collections and a box for a new collection link."""
    refused = request.session.pop(FORM_ERROR_SESSION_KEY, None)
    refused = refused if isinstance(refused, dict) else {}
    rows = [
        (collection, collection_progress(collection=collection)) for collection in collections_for_user(request.user)
    ]
    context = {"rows": rows, "link": str(refused.get("link", "")), "error": str(refused.get("error", ""))}
    return render(request, "videos/collections.html", context)


@login_required
@require_GET
def collection_page(request: HttpRequest, collection_id: int) -> HttpResponse:
    """One collection: an overall bar and every item's state, progress and failure reason."""
    collection = _owned_or_404(request, collection_id)
    items = [collection_item_progress(item) for item in collection_items(collection_id=collection.pk)]
    context = {"collection": collection, "progress": collection_progress(collection=collection), "items": items}
    return render(request, "videos/collection.html", context)


@login_required
@require_POST
def collection_retry(request: HttpRequest, collection_id: int) -> HttpResponse:
    """Queue the collection's failed items again and show its page."""
    collection = _owned_or_404(request, collection_id)
    collection_retry_failed_enqueue(collection_id=collection.pk)
    return redirect("collection_page", collection_id=collection.pk)


def _owned_or_404(request: HttpRequest, collection_id: int) -> Collection:
    try:
        return collection_get_for_user(user=request.user, collection_id=collection_id)
    except AppError as exc:
        raise Http404("no such collection") from exc
