"""Vector search's settings, set once on every database connection instead of per question (issue 12).

They go in libpq's `options` (`-c name=value`), sent with the connection's startup packet: no statement,
no round trip, no Python per question, for pooled and direct connections alike. PostgreSQL keeps them as
placeholders until pgvector loads, which then takes their values.

- `hnsw.ef_search`: more HNSW candidates than the default 40, for better recall at a small cost;
- `hnsw.iterative_scan = relaxed_order`: keep scanning the index when the part filter drops most of them
  (the ranking sorts its rows again, so the relaxed order never shows).

The settings module imports this: nothing from Django or the models here.
"""

from __future__ import annotations

from typing import Any

# HNSW candidate list size: above the default 40 for better recall at a small cost in latency.
HNSW_EF_SEARCH = 100
HNSW_ITERATIVE_SCAN = "relaxed_order"


def with_vector_search_settings(options: dict[str, Any]) -> dict[str, Any]:
    """A DATABASES entry's OPTIONS with the vector search settings put first in libpq's `options`
    (a site's own `options`, e.g. from DATABASE_URL, come after and so win)."""
    session = f"-c hnsw.ef_search={HNSW_EF_SEARCH} -c hnsw.iterative_scan={HNSW_ITERATIVE_SCAN}"
    own = str(options.get("options", "")).strip()
    return {**options, "options": f"{session} {own}".strip()}
