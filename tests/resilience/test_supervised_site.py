"""`runsite` heals itself (issue 18): a killed worker, server process or PostgreSQL is replaced while
the site keeps serving, and the work that was running ends as a clean run would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync

from chatbili_site.settings import BASE_DIR
from tests.fakes.bilibili import FakeBilibili
from tests.fakes.openai import FakeOpenAI
from tests.resilience.site import fakes_env, get, supervised_site, wait_for
from videos.chunking import chunks_for_transcript
from videos.models import Chunk, VideoPart
from videos.submission import part_ingest_enqueue, video_submit
from videos.types import Cue, Transcript

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BVID = "BV117411r7R1"


def part_at_embeddings(part_id: int) -> VideoPart | None:
    part = VideoPart.objects.get(pk=part_id)
    return part if part.stage == VideoPart.Stage.EMBEDDINGS and part.claimed_by else None


def test_a_worker_killed_mid_ingest_is_replaced_and_the_part_ends_ready_once(
    tmp_path: Path, bilibili: FakeBilibili, llm: FakeOpenAI
) -> None:
    llm.embedding_delay = 10.0  # holds the first run at its embeddings stage until the kill
    part = async_to_sync(video_submit)(BVID)
    with supervised_site(tmp_path, **fakes_env()) as site:
        dying_worker = site.component("worker-1")["pid"]
        part_ingest_enqueue(part_id=part.pk)
        claimed = wait_for(lambda: part_at_embeddings(part.pk), timeout=60)
        assert claimed.claimed_by.endswith(f":{dying_worker}")

        os.kill(dying_worker, signal.SIGKILL)
        llm.embedding_delay = 0.0
        assert get(f"{site.url}/healthz").status_code == 200  # the web never stopped

        wait_for(lambda: VideoPart.objects.get(pk=part.pk).stage == VideoPart.Stage.READY, timeout=90)
        replacement = site.component("worker-1")
    assert replacement["pid"] != dying_worker
    assert replacement["restarts"] == 1
    assert len(bilibili.calls("/x/player/wbi/v2")) == 1  # the resumed run reused the fetched subtitles
    part.refresh_from_db()
    transcript = Transcript([Cue(*cue) for cue in part.transcript_cues], source=part.transcript_source)
    ordinals = list(Chunk.objects.filter(part=part).order_by("ordinal").values_list("ordinal", flat=True))
    assert ordinals == list(range(len(chunks_for_transcript(transcript))))


def test_with_two_servers_a_killed_one_loses_no_request_and_is_replaced(tmp_path: Path) -> None:
    with supervised_site(tmp_path, "--servers", "2") as site:
        victim = site.component("server-1")["pid"]
        before = [get(f"{site.url}/") for _ in range(10)]
        os.kill(victim, signal.SIGKILL)
        during = [get(f"{site.url}/") for _ in range(20)]
        replaced = wait_for(lambda: site.component("server-1")["running"] and site.component("server-1"), timeout=60)
        after = [get(f"{site.url}/") for _ in range(10)]
    statuses = [response.status_code if response is not None else None for response in before + during + after]
    assert statuses == [200] * 40
    assert replaced["pid"] != victim
    assert replaced["restarts"] == 1


def api_token(site_env: dict[str, str]) -> str:
    """A user and an API token made in the site's own database (a fresh embedded one)."""
    code = (
        "from django.contrib.auth.models import User;"
        "from chat.services.api_tokens import api_token_create;"
        "print(api_token_create(user=User.objects.create_user('resilience'), name='test')[1])"
    )
    env = {**os.environ, **site_env, "DJANGO_SETTINGS_MODULE": "chatbili_site.settings", "LOG_LEVEL": "ERROR"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_after_postgres_is_killed_the_site_serves_data_again_by_itself(tmp_path: Path) -> None:
    with supervised_site(tmp_path, embedded=True) as site:
        token = api_token({"EMBEDDED_DB_DIR": str(tmp_path / "pgdata")})
        headers = {"Authorization": f"Bearer {token}"}
        tokens_url = f"{site.url}/api/v1/tokens"
        assert [token["name"] for token in get(tokens_url, headers=headers).json()] == ["test"]
        postmaster = site.component("postgres")["pid"]

        os.kill(postmaster, signal.SIGKILL)
        during: list[tuple[int, str]] = []

        def serves_again() -> bool:
            # a backend can answer for a moment after its postmaster died: first the supervisor's restart
            if site.component("postgres")["pid"] == postmaster:
                return False
            response = get(tokens_url, headers=headers)
            if response is not None and response.status_code != 200:
                during.append((response.status_code, response.json()["error"]["code"]))
            return response is not None and response.status_code == 200 and response.json()[0]["name"] == "test"

        wait_for(serves_again, timeout=90, every=0.5)
        restarted = site.component("postgres")
    assert restarted["pid"] != postmaster
    assert [answer for answer in during if answer != (503, "database_unavailable")] == []
