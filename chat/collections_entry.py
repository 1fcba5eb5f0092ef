"""Creating a collection, where the quota is known: the API's `POST /collections` and the form on
the collections page (which home's link box hands collection links to, `?from=home`: a refusal
then goes back to home's form, not to the collections page's).

Quotas live in chat, and videos may not import chat, so the check happens here, before anything
is fetched or written: a user over quota is told at once, not halfway through fifty videos.
Everything after the check is videos' own (videos.collections, videos.submission).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from ninja import Field, Schema, Status
from pydantic import ConfigDict

from chat.quotas import quota_check
from core.api import error_responses
from core.errors import AppError
from videos.api_collections import CollectionOut, collection_out, router
from videos.collections import collection_submit
from videos.models import Collection
from videos.submission import collection_ingest_enqueue
from videos.views import FROM_HOME, home_with_refused_link

__all__ = ["collection_create_view", "collection_submit_checked", "router"]

MAX_LINK_LENGTH = 2000
FORM_ERROR_SESSION_KEY = "collection_form"


async def collection_submit_checked(*, user: object, text: str) -> Collection:
    """Check the user's quota, store the collection the link names and queue its ingestion."""
    await sync_to_async(quota_check)(user)
    collection = await collection_submit(owner=user, text=text)
    await sync_to_async(collection_ingest_enqueue)(collection_id=collection.pk)
    return collection


class CollectionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    link: str = Field(
        min_length=1,
        max_length=MAX_LINK_LENGTH,
        pattern=r"^[^\x00]*$",
        description="A 合集, series or favourites link (space.bilibili.com/…, medialist ml…) or a video link",
    )


@router.post("/collections", response={202: CollectionOut, **error_responses(429, 502, 503)})
async def collection_create(request: HttpRequest, body: CollectionIn) -> Status[dict]:
    """Submit a collection link: its items are listed and queued (202). Follow `GET /collections/{id}`.

    The same link again gives back the same collection and queues what is left of it.
    Over quota: 429 `quota_exceeded` before anything is fetched.
    """
    collection = await collection_submit_checked(user=request.auth, text=body.link)
    return Status(202, await sync_to_async(collection_out)(collection))


@require_POST
async def collection_create_view(request: HttpRequest) -> HttpResponse:
    """The collections page's form (or home's link box): open the new collection's page, or go back
    to the form the link came from with the message."""
    user = await request.auser()
    if not user.is_authenticated:
        return redirect_to_login(reverse("collection_list"))
    link = request.POST.get("link", "").strip()[:MAX_LINK_LENGTH]
    try:
        collection = await collection_submit_checked(user=user, text=link)
    except AppError as error:
        if request.GET.get("from") == FROM_HOME["from"]:
            return await home_with_refused_link(request, link=link, error=error)
        await request.session.aset(FORM_ERROR_SESSION_KEY, {"link": link, "error": error.message()})
        return redirect("collection_list")
    return redirect("collection_page", collection_id=collection.pk)
