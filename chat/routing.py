from django.urls import path

from chat.consumers import VideoPartConsumer

websocket_urlpatterns = [
    path("ws/videos/<str:bvid>/<int:page>/", VideoPartConsumer.as_asgi()),
]
