"""What recording a request's metrics costs, in one process and in multiprocess mode, and a scrape.

    .venv/bin/python bench/metrics_overhead.py

Each mode runs in a fresh interpreter (prometheus_client chooses the mode at import).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, machine

MEASURE = """
import time
from core import metrics
n = 20000
start = time.perf_counter()
for i in range(n):
    metrics.http_request_observe(method="GET", view="video", status=200, seconds=0.012)
record = (time.perf_counter() - start) / n * 1e6
start = time.perf_counter()
for _ in range(20):
    metrics.exposition()
scrape = (time.perf_counter() - start) / 20 * 1e3
print(f"{record:.1f} {scrape:.2f}")
"""


def run(multiprocess_dir: str | None) -> tuple[float, float]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatbili_site.settings", "DEBUG": "true"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiprocess_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir
    out = subprocess.run([sys.executable, "-c", MEASURE], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    record, scrape = out.stdout.split()
    return float(record), float(scrape)


def main() -> None:
    print(machine())
    single = run(None)
    with tempfile.TemporaryDirectory() as directory:
        multi = run(directory)
    print("mode            record one request (µs)   one scrape (ms)")
    print(f"single process  {single[0]:>24.1f}   {single[1]:>15.2f}")
    print(f"multiprocess    {multi[0]:>24.1f}   {multi[1]:>15.2f}")


if __name__ == "__main__":
    main()
