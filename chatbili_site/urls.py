"""The site's addresses: pages of each app, auth, admin, the API under /api/v1/, /healthz."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from chatbili_site import views
from chatbili_site.api import api

handler400 = "chatbili_site.views.bad_request"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    re_path(r"^api/", views.api_not_found),
    path("", include("videos.urls")),
    path("", include("chat.urls")),
]
