"""`manage.py reembed`: recompute chunk embeddings for the current embedding model.

Parts are done one at a time, each in one transaction, so a part's chunks are never a mix of
two models. Until a part is done, vector search simply skips it (queries filter on the model).
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.core.management.base import BaseCommand, CommandError

from core.errors import AppError
from videos import services
from videos.embeddings import embed_texts, embedding_space
from videos.models import VideoPart
from videos.selectors import chunk_texts_of_part, part_ids_to_reembed


class Command(BaseCommand):
    help = "Recompute chunk embeddings for the configured embedding model."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true", help="also recompute chunks already on the current model")

    def handle(self, *args: Any, **options: Any) -> None:
        space = embedding_space()
        part_ids = part_ids_to_reembed(space=space, everything=options["all"])
        self.stdout.write(f"{len(part_ids)} parts to re-embed for {space}")
        try:
            total = asyncio.run(self.reembed_parts(part_ids, space))
        except AppError as exc:
            raise CommandError(exc.message()) from exc
        self.stdout.write(self.style.SUCCESS(f"re-embedded {total} chunks in {len(part_ids)} parts for {space}"))

    async def reembed_parts(self, part_ids: list[int], space: str) -> int:
        total = 0
        for part_id in part_ids:
            rows = await sync_to_async(chunk_texts_of_part)(part_id=part_id)
            vectors = await embed_texts([text for _, text in rows])
            vectors_by_chunk = {pk: vector for (pk, _), vector in zip(rows, vectors, strict=True)}
            total += await sync_to_async(services.part_embeddings_replace)(
                part_id=part_id, vectors_by_chunk=vectors_by_chunk, space=space
            )
            part = await VideoPart.objects.select_related("video").aget(pk=part_id)
            self.stdout.write(f"  {part}: {len(rows)} chunks")
        return total
