"""Websocket routes of every app, gathered for asgi.py."""

from __future__ import annotations

from django.urls import path

from chat.routing import websocket_urlpatterns as chat_websocket_urlpatterns
from videos.consumers_collections import CollectionProgressConsumer

websocket_urlpatterns = [
    # A collection page's progress (issue 14); ws/collections/<id>/ itself is the collection's chat.
    path("ws/collections/<int:collection_id>/progress/", CollectionProgressConsumer.as_asgi()),
    *chat_websocket_urlpatterns,
]
