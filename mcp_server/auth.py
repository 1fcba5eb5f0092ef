"""Who is calling: a personal API token (chat.services.api_tokens) as the protocol's bearer token.

The SDK's bearer middleware asks `ApiTokenVerifier` on every HTTP request, so a revoked token is
refused at once with the protocol's auth error (401 and `WWW-Authenticate: Bearer ...`). The
token's user id travels as the access token's subject; `caller` loads that user for a tool call.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver import Context

from chat.services.api_tokens import api_token_authenticate
from core.errors import UNAUTHORIZED, AppError

CLIENT_PREFIX = "chatbili-user-"


class ApiTokenVerifier:
    """The SDK's `TokenVerifier`: a live token of an active user, or None (→ 401)."""

    async def verify_token(self, token: str) -> AccessToken | None:
        user = await sync_to_async(api_token_authenticate)(token.strip())
        if user is None:
            return None
        return AccessToken(token=token, client_id=f"{CLIENT_PREFIX}{user.pk}", scopes=[], subject=str(user.pk))


def caller_id(ctx: Context) -> int:
    """The id of the user whose token authenticated this call's HTTP request."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None) or {}
    access_token = getattr(scope.get("user"), "access_token", None)
    if access_token is None or not (access_token.subject or "").isdigit():
        raise AppError(UNAUTHORIZED)
    return int(access_token.subject)


def _active_user(user_id: int) -> Any:
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise AppError(UNAUTHORIZED)
    return user


async def caller(ctx: Context) -> Any:
    """The calling user (AppError unauthorized if the account went away since the request began)."""
    return await sync_to_async(_active_user)(caller_id(ctx))
