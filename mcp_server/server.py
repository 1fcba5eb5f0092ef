"""The MCP server and its streamable-HTTP ASGI app, mounted at /mcp by chatbili_site.asgi.

    application = ProtocolTypeRouter({"http": with_mcp(django_asgi_app), ...})

The SDK's session manager must run (a task group holding the sessions) before it serves a
request. Its Starlette app would start it from ASGI lifespan events, which daphne never sends,
so `McpApp` starts it on the first request, in a task of its own (with a fresh context, so no
request's state leaks into the sessions), and stops it before daphne's reactor shuts down (the
SDK's worker threads end with that task; left running they would keep the process alive).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from typing import Any

from django.conf import settings
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings

from mcp_server.auth import ApiTokenVerifier
from mcp_server.calls import sdk_errors_as_contract
from mcp_server.library_tools import LIBRARY_TOOLS
from mcp_server.resources import RESOURCES
from mcp_server.tools import VIDEO_TOOLS

logger = logging.getLogger(__name__)

MCP_PATH = "/mcp"
INSTRUCTIONS = (
    "ChatBili：B 站视频的总结、字幕和有出处的问答。先用 submit_video 提交链接，用 get_progress 等到 ready，"
    "再用 get_summary / get_transcript / ask_video；search_library 和 list_library 查我的资料库。"
    "所有时刻都带 t= 链接。\n"
    "ChatBili: summaries, transcripts and grounded, cited answers for Bilibili videos. submit_video a "
    "link, wait with get_progress until ready, then get_summary / get_transcript / ask_video; "
    "search_library and list_library cover my library. Every moment comes with t= links."
)


def build_server() -> MCPServer:
    """The MCPServer with every tool and resource, authenticating personal API tokens."""
    server = MCPServer(
        "ChatBili",
        title="ChatBili",
        instructions=INSTRUCTIONS,
        version="1.0.0",
        token_verifier=ApiTokenVerifier(),
        # The site is its own resource server: no OAuth metadata, just bearer tokens it issued.
        auth=AuthSettings(issuer_url="http://127.0.0.1", resource_server_url=None),
        log_level="WARNING",
        middleware=[sdk_errors_as_contract],
    )
    for fn, description, hints in [*VIDEO_TOOLS, *LIBRARY_TOOLS]:
        server.add_tool(fn, name=fn.__name__, description=description, annotations=hints, structured_output=True)
    for fn, uri, name, description, mime_type in RESOURCES:
        server.resource(uri, name=name, description=description, mime_type=mime_type)(fn)
    return server


def transport_security() -> TransportSecuritySettings:
    """DNS-rebinding protection from ALLOWED_HOSTS (off when it allows any host)."""
    hosts = [host.lstrip(".") for host in settings.ALLOWED_HOSTS]
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    origins = [origin for host in hosts for origin in (f"http://{host}:*", f"https://{host}:*")]
    origins += [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*hosts, *(f"{host}:*" for host in hosts)],
        allowed_origins=[*origins, *settings.CSRF_TRUSTED_ORIGINS],
    )


class McpApp:
    """The SDK's streamable-HTTP app, its session manager started on the first request."""

    def __init__(self) -> None:
        self.server = build_server()
        # Stateless: no session lives in one process's memory, so any of runsite's daphne processes
        # may answer any request; a call's progress notifications stream in its own response.
        self.app = self.server.streamable_http_app(
            streamable_http_path=MCP_PATH, stateless_http=True, transport_security=transport_security()
        )
        self._ready: asyncio.Event | None = None
        self._runner: asyncio.Task | None = None
        self._failure: BaseException | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.started()
        await self.app(scope, receive, send)

    async def started(self) -> None:
        if self._ready is None:
            self._ready = asyncio.Event()
            loop = asyncio.get_running_loop()
            self._runner = loop.create_task(self._run(), context=contextvars.Context())
            _on_daphne_shutdown(self.stop)
        await self._ready.wait()
        if self._failure is not None:
            raise RuntimeError("the MCP session manager did not start") from self._failure

    def stop(self) -> Any:
        """End the session manager (its sessions, and the SDK's worker threads, which would keep
        the process alive); a Deferred that fires once it has ended, for twisted to wait on."""
        if self._runner is None or self._runner.done():
            return None
        self._runner.cancel()
        defer = sys.modules["twisted.internet.defer"]
        return defer.Deferred.fromFuture(self._runner).addErrback(lambda failure: None)

    async def _run(self) -> None:
        try:
            async with self.server.session_manager.run():
                self._ready.set()
                await asyncio.Event().wait()  # until the process ends
        except asyncio.CancelledError:
            raise  # the process is shutting down
        except BaseException as exc:
            if not self._ready.is_set():
                self._failure = exc
                self._ready.set()
            logger.warning("the MCP session manager stopped: %r", exc)
            raise


def _on_daphne_shutdown(stop: Any) -> None:
    """Call `stop` before daphne's reactor shuts down (daphne sends no ASGI lifespan events)."""
    if "daphne.server" in sys.modules and "twisted.internet.reactor" in sys.modules:
        sys.modules["twisted.internet.reactor"].addSystemEventTrigger("before", "shutdown", stop)


def is_mcp_path(path: str) -> bool:
    return path == MCP_PATH or path.startswith(MCP_PATH + "/")


def with_mcp(django_app: Any) -> Any:
    """An HTTP ASGI app: /mcp to the MCP server, everything else to Django."""
    mcp_app = McpApp()

    async def http(scope: dict, receive: Any, send: Any) -> None:
        if is_mcp_path(scope.get("path", "")):
            await mcp_app(scope, receive, send)
        else:
            await django_app(scope, receive, send)

    http.mcp_app = mcp_app  # type: ignore[attr-defined]
    return http
