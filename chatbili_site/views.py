from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chatbili_site.health import health_report


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    report = await health_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)


def api_not_found(request: HttpRequest) -> JsonResponse:
    """Unknown API addresses get the API's error body, not the site's HTML 404 page."""
    body = {"code": "not_found", "message": "没有这个接口 / No such endpoint", "details": {"path": request.path}}
    return JsonResponse(body, status=404, json_dumps_params={"ensure_ascii": False})
