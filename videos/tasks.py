"""Background jobs (Django tasks, run by `manage.py db_worker`). Thin: load, call the pipeline."""

from __future__ import annotations

from django.tasks import task

from videos.collection_ingest import collection_ingest
from videos.ingest import part_ingest


@task()
async def ingest_part_task(part_id: int) -> bool:
    return await part_ingest(part_id)


@task()
async def ingest_collection_task(collection_id: int) -> bool:
    return await collection_ingest(collection_id)
