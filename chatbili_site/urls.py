"""The site's addresses: pages of each app, auth, admin, the API under /api/v1/, /healthz."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from chatbili_site import views
from chatbili_site.api import api
from chatbili_site.metrics_view import metrics_view

handler400 = "chatbili_site.views.bad_request"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),  # Prometheus (issue 15): local or token only
    path("accounts/", include("accounts.urls")),  # sign-up, sign-in, MFA, password, account care
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    re_path(r"^api/", views.api_not_found),
    path("", include("videos.urls")),
    path("", include("chat.urls")),
]
