"""ASGI entry point: Django for HTTP, Channels for websockets.

Under a server (daphne imports this module before it accepts a connection) everything a first
request would pay for is warmed here: see `chatbili_site.warmup`. WARM_START=false skips it.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbili_site.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from chatbili_site import warmup  # noqa: E402
from chatbili_site.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)

if settings.WARM_START and warmup.schedule_on_daphne_loop():
    warmup.warm_process()
