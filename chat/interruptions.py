"""Why a stream was cut off before its end: the error stored on the row it leaves interrupted.

A server process that is stopping (SIGTERM or SIGINT: chatbili_site.supervisor_daphne) calls
`server_stopping_begin()` before it cancels what still runs; from then on every stream this
process cuts off was interrupted by the restart (`server_restarted`), not by its reader leaving
(`client_disconnected` for an answer) or by the operator (`summary_interrupted` for Ctrl-C on
`manage.py summarize`).

    error = interruption(CLIENT_DISCONNECTED)  # AppError(SERVER_RESTARTED) once stopping
"""

from __future__ import annotations

from chat.errors import SERVER_RESTARTED
from core.errors import AppError, ErrorKind

_server_stopping = False


def server_stopping_begin() -> None:
    """This process is stopping: the streams it cuts off from now on were cut off by a restart."""
    global _server_stopping
    _server_stopping = True


def interruption(otherwise: ErrorKind) -> AppError:
    """The error to store on a stream cut off now: server_restarted while stopping, else `otherwise`."""
    return AppError(SERVER_RESTARTED if _server_stopping else otherwise)
