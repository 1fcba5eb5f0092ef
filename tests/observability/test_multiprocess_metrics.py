"""Several processes (runsite's servers and workers) share their metrics through PROMETHEUS_MULTIPROC_DIR."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import metrics

ROOT = Path(__file__).resolve().parents[2]
RECORD = (
    "from core import metrics; metrics.http_request_observe(method='GET', view='healthz', status=200, seconds=0.01)"
)
EXPOSE = "from core import metrics; import sys; sys.stdout.write(metrics.exposition().decode())"


def python(code: str, directory: Path) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return done.stdout


def test_requests_of_two_exited_processes_are_summed(tmp_path: Path) -> None:
    python(RECORD, tmp_path)
    python(RECORD, tmp_path)
    text = python(EXPOSE, tmp_path)
    line = 'chatbili_http_requests_total{method="GET",status="200",view="healthz"} 2.0'
    assert line in text.splitlines()


def test_runsite_empties_the_directory_of_an_earlier_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    python(RECORD, tmp_path)
    environment = metrics.multiprocess_environment(8000)
    assert (environment, list(tmp_path.glob("*.db"))) == ({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}, [])
