from django.urls import path

from chat.consumers import VideoPartConsumer
from chat.consumers_library import LibraryConsumer

websocket_urlpatterns = [
    path("ws/videos/<str:bvid>/<int:page>/", VideoPartConsumer.as_asgi()),
    path("ws/library/", LibraryConsumer.as_asgi()),
    path("ws/collections/<int:collection_id>/", LibraryConsumer.as_asgi()),
]
