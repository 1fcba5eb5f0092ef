"""The admin's home page shows runsite's supervised components, a crash loop as degraded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from chatbili_site import supervisor
from chatbili_site.supervisor import ProcessComponent, Supervisor

pytestmark = pytest.mark.django_db


def crash_looping_site(state_file: Path) -> None:
    """A real supervisor whose one worker exits at once, until it is called a crash loop."""
    crashing = ProcessComponent(
        "worker-1", "worker", lambda: subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    )
    site = Supervisor([crashing], state_file=state_file)
    site.start_all()
    while not crashing.crash_loop:
        site.tick()
    site.write_state()


def test_a_crash_loop_shows_as_degraded_on_the_admin_home(
    tmp_path: Path, settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "RESTART_DELAY_FIRST", 0.0)
    monkeypatch.setattr(supervisor, "RESTART_DELAY_MAX", 0.0)
    settings.SUPERVISOR_STATE_FILE = str(tmp_path / "state.json")
    crash_looping_site(tmp_path / "state.json")
    client = Client()
    client.force_login(User.objects.create_superuser("root", password=None))
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "degraded" in page
    assert "crash loop" in page
    assert "exited with code 1" in page
