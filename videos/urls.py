from __future__ import annotations

from django.urls import path

from videos import views, views_collections

PART = "videos/<str:bvid>/<int:page>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("videos/", views.submit, name="video_submit"),
    path("collections/", views_collections.collection_list, name="collection_list"),
    path("collections/<int:collection_id>/", views_collections.collection_page, name="collection_page"),
    path("collections/<int:collection_id>/retry/", views_collections.collection_retry, name="collection_retry"),
    path("videos/<str:bvid>/", views.video_redirect, name="video_redirect"),
    path(PART + "retry/", views.retry, name="video_retry"),
    path(PART + "transcript.srt", views.transcript_export, {"suffix": "srt"}, name="transcript_srt"),
    path(PART + "transcript.json", views.transcript_export, {"suffix": "json"}, name="transcript_json"),
    path(PART + "transcript.vtt", views.transcript_export, {"suffix": "vtt"}, name="transcript_vtt"),
]
