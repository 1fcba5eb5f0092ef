"""Warm start: pay at server start what the first request would otherwise pay.

`warm_process()` runs when the ASGI module is imported (daphne imports it before it accepts a
connection): the tokenizer, the prompt templates, the TLS context and an OpenAI client (the SDK
imports its resources lazily), the database pool, the URL resolver, the markdown renderer and
the chat modules; then everything loaded so far is moved out of the garbage collector's sight
(`gc.freeze`), so collections during requests only walk what requests make. `warm_loop()` runs
first thing on the server's event loop: the loop's kept-alive OpenAI client is made, and a
cross-process channel layer opens its connections and starts listening there.
"""

from __future__ import annotations

import gc
import logging
import time
import uuid

logger = logging.getLogger(__name__)


def _tokenizer() -> None:
    from core.tokens import encoding

    encoding().encode_ordinary("warm up 预热")


def _prompts() -> None:
    from chat.prompts import PROMPTS_DIR, load_prompt

    for path in sorted(PROMPTS_DIR.glob("*_v*.md")):
        name, version = path.stem.rsplit("_", 1)
        try:
            load_prompt(name, version)
        except ValueError:
            path.read_text(encoding="utf-8")  # a fragment (style_*), read by its own loader


def _http_clients() -> None:
    from core.http import openai_client, tls_context

    tls_context()
    client = openai_client()  # builds the SDK's HTTP stack; the client is dropped
    client.chat.completions, client.embeddings  # the SDK imports these on first use (~170 ms)  # noqa: B018


def _database() -> None:
    from django.db import connections

    for connection in connections.all():
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        connection.close()  # back to the pool, which stays open


def _orm() -> None:
    """The queries of a signed-in websocket's first ask: session, user, part (compiled once)."""
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connections

    from videos.models import VideoPart

    SessionStore().exists("warmup")
    get_user_model().objects.filter(pk=0).first()
    VideoPart.objects.select_related("video").filter(pk=0).first()
    connections.close_all()


def _ask_path() -> None:
    """The reads of an ask, on nothing (compiled, planned, pgvector's types loaded): the quota
    check and the retrieval's queries."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connections

    from chat.quotas import quota_check
    from chat.retrieval import retrieve_chunks_by_vector

    quota_check(get_user_model()(pk=0))
    vector = [1.0] + [0.0] * (settings.EMBEDDING_DIMENSIONS - 1)
    retrieve_chunks_by_vector(part_id=0, question="预热 warm up", vector=vector)
    connections.close_all()


def _urls() -> None:
    from django.urls import get_resolver, resolve

    get_resolver().check()
    resolve("/")
    resolve("/healthz")


def _rendering() -> None:
    from chat.rendering import markdown_html

    markdown_html("**warm** [01:02] `up`")


WARM_STEPS = (_tokenizer, _prompts, _http_clients, _database, _orm, _ask_path, _urls, _rendering)


def warm_process() -> dict[str, float]:
    """Run every warm step; a failing step is logged and skipped. Returns milliseconds per step."""
    timings: dict[str, float] = {}
    for step in WARM_STEPS:
        started = time.perf_counter()
        try:
            step()
        except Exception:
            logger.warning("warm-up step %s failed", step.__name__, exc_info=True)
        timings[step.__name__.lstrip("_")] = (time.perf_counter() - started) * 1000
    logger.info("warm start: %s", ", ".join(f"{name} {ms:.0f} ms" for name, ms in timings.items()))
    gc.freeze()
    return timings


async def warm_loop() -> None:
    """The loop's OpenAI client; one message sent to a new channel of this process and received
    (a cross-process layer's connections and listener open)."""
    from channels.layers import get_channel_layer

    from core.http import shared_openai_client

    shared_openai_client()
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        channel = await layer.new_channel("warmup.")
        await layer.send(channel, {"type": "warmup.probe", "nonce": uuid.uuid4().hex})
        await layer.receive(channel)
    except Exception:
        logger.warning("could not warm the channel layer", exc_info=True)


def schedule_on_daphne_loop() -> bool:
    """Queue `warm_loop` on daphne's event loop (it runs once the server starts)."""
    import sys

    server_module = sys.modules.get("daphne.server")
    if server_module is None:
        return False
    loop = server_module.twisted_loop
    loop.call_soon(lambda: loop.create_task(warm_loop()))
    return True
