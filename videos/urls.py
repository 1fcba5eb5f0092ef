from __future__ import annotations

from django.urls import path

from videos import views

PART = "videos/<str:bvid>/<int:page>/"

urlpatterns = [
    path("", views.home, name="home"),
    path("videos/", views.submit, name="video_submit"),
    path("videos/<str:bvid>/", views.video_redirect, name="video_redirect"),
    path(PART + "retry/", views.retry, name="video_retry"),
    path(PART + "transcript.srt", views.transcript_export, {"suffix": "srt"}, name="transcript_srt"),
    path(PART + "transcript.json", views.transcript_export, {"suffix": "json"}, name="transcript_json"),
    path(PART + "transcript.vtt", views.transcript_export, {"suffix": "vtt"}, name="transcript_vtt"),
]
