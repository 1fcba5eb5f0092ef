"""Websocket routes of every app, gathered for asgi.py."""

from __future__ import annotations

from chat.routing import websocket_urlpatterns as chat_websocket_urlpatterns

websocket_urlpatterns = [*chat_websocket_urlpatterns]
