"""Collection tests run async code from sync tests (commands, pages): close the connections it opened."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from django.db import connections


@pytest.fixture(autouse=True)
def _close_connections_of_async_code() -> Iterator[None]:
    yield
    asyncio.run(sync_to_async(connections.close_all)())
