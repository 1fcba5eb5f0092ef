"""ASGI entry point: Django for HTTP, the MCP server at /mcp (mcp_server.server), Channels for websockets.

Under a server (daphne imports this module before it accepts a connection) everything a first
request would pay for is warmed here: see `chatbili_site.warmup`. WARM_START=false skips it.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbili_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from chatbili_site import socket_accepts, socket_writes, warmup  # noqa: E402
from chatbili_site.observability import WebsocketObservability  # noqa: E402
from chatbili_site.outage import WebsocketOutageGuard  # noqa: E402
from chatbili_site.routing import websocket_urlpatterns  # noqa: E402
from chatbili_site.websocket_session import websocket_auth_stack  # noqa: E402
from mcp_server.server import with_mcp  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": with_mcp(django_asgi_app),  # /mcp → the MCP server, the rest → Django
        # a socket that fails because PostgreSQL is down gets a "reconnecting" frame (chatbili_site.outage)
        # channels' auth stack, minus a session send wrapper that only acts on HTTP (chatbili_site.websocket_session)
        "websocket": WebsocketObservability(  # an id per socket for its logs, and its metrics (issue 15)
            WebsocketOutageGuard(AllowedHostsOriginValidator(websocket_auth_stack(URLRouter(websocket_urlpatterns))))
        ),
    }
)

socket_writes.install()  # a frame goes to the socket at once, not on twisted's next loop turn (issue 12)
socket_accepts.install()  # one accept per loop turn: processes sharing one socket share its connections

if settings.WARM_START and warmup.schedule_on_daphne_loop():
    warmup.warm_process()
