"""A PostgreSQL backend that starts the embedded server before its first connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.backends.postgresql import base

from chatbili_site.db import embedded


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        datadir = Path(self.settings_dict["OPTIONS"]["embedded_datadir"])
        socket_dir = embedded.ensure_running(datadir)
        self.settings_dict["HOST"] = socket_dir
        params = super().get_connection_params()
        params.pop("embedded_datadir", None)
        return params
