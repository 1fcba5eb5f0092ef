from __future__ import annotations

from django.urls import path

from chat import views, views_library
from chat.collections_entry import collection_create_view

urlpatterns = [
    path("videos/<str:bvid>/<int:page>/", views.video_page, name="video_page"),
    path("videos/<str:bvid>/<int:page>/notes.md", views.notes_export, name="notes_export"),
    path("summaries/<int:summary_id>/", views.summary_fragment, name="summary_fragment"),
    path("messages/<int:message_id>/", views.message_fragment, name="message_fragment"),
    path("history/", views.history, name="history"),
    path("library/", views_library.library_page, name="library"),
    path("collections/new/", collection_create_view, name="collection_create"),
    path("account/", views.account, name="account"),
    path("account/tokens/", views.token_create, name="token_create"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
