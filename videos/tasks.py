"""Background jobs (Django tasks, run by `manage.py db_worker`). Thin: load, call the pipeline."""

from __future__ import annotations

from django.tasks import task

from videos.ingest import part_ingest


@task()
async def ingest_part_task(part_id: int) -> bool:
    return await part_ingest(part_id)
