"""deploy/: the systemd units load, and the commands in the units and the compose file are real."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.core.management import load_command_class

from chatbili_site.settings import DATA_UPLOAD_MAX_MEMORY_SIZE

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ["chatbili.service", "chatbili.socket", "chatbili-prepare.service", "chatbili-server@.service"]
UNITS += ["chatbili-worker@.service", "chatbili-requeue.service", "chatbili-requeue.timer"]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def exec_start(unit: str) -> list[str]:
    lines = (DEPLOY / "systemd" / unit).read_text().splitlines()
    return shlex.split(next(line for line in lines if line.startswith("ExecStart=")).removeprefix("ExecStart="))


def db_worker_accepts(arguments: list[str]) -> None:
    """Raises (argparse exits) when db_worker does not take these arguments."""
    parser = load_command_class("django_tasks_db", "db_worker").create_parser("manage.py", "db_worker")
    parser.parse_args(arguments)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_units_load_without_warnings(tmp_path: Path) -> None:
    """Verified as installed (instances made of the templates; paths that exist here in place of /opt)."""
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text()
        text = text.replace("/opt/chatbili/.venv/bin/python", shutil.which("python3") or "/usr/bin/python3")
        text = text.replace("WorkingDirectory=/opt/chatbili", f"WorkingDirectory={tmp_path}")
        text = text.replace("EnvironmentFile=/etc", "EnvironmentFile=-/etc")
        text = text.replace("User=chatbili", "User=root").replace("Group=chatbili", "Group=root")
        (tmp_path / unit.replace("@.", "@1.")).write_text(text)
    units = [str(tmp_path / unit.replace("@.", "@1.")) for unit in UNITS]
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")


def test_the_systemd_worker_runs_db_worker_with_real_flags() -> None:
    command = exec_start("chatbili-worker@.service")
    assert command[1:3] == ["manage.py", "db_worker"]
    db_worker_accepts(command[3:])


def test_the_compose_workers_run_db_worker_with_real_flags() -> None:
    command = compose()["services"]["worker"]["command"]
    assert command[:3] == ["python", "manage.py", "db_worker"]
    db_worker_accepts(command[3:])


def test_every_chatbili_container_shares_the_metrics_directory() -> None:
    services = compose()["services"]
    chatbili = [name for name, service in services.items() if service.get("image") == "chatbili:latest"]
    shared = {
        name: (services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"], services[name]["volumes"])
        for name in chatbili
    }
    assert shared == {name: ("/metrics", ["metrics:/metrics"]) for name in ("init", "site", "worker", "requeue")}


def test_nginx_takes_a_body_a_little_over_the_sites_limit() -> None:
    for conf in ("nginx.conf", "nginx-compose.conf"):
        line = next(line for line in (DEPLOY / conf).read_text().splitlines() if "client_max_body_size" in line)
        limit = int(line.split()[1].rstrip(";").removesuffix("m")) * 1024 * 1024
        assert DATA_UPLOAD_MAX_MEMORY_SIZE < limit <= 2 * DATA_UPLOAD_MAX_MEMORY_SIZE


@pytest.mark.skipif(shutil.which("nginx") is None or shutil.which("openssl") is None, reason="needs nginx and openssl")
@pytest.mark.parametrize("conf", ["nginx.conf", "nginx-compose.conf"])
def test_the_nginx_samples_pass_nginx_t(conf: str, tmp_path: Path) -> None:
    """`nginx -t` on the sample (a throwaway certificate in place of Let's Encrypt's; `site` as 127.0.0.1)."""
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test"]
    subprocess.run([*openssl, "-keyout", key, "-out", cert], check=True, capture_output=True)
    text = (DEPLOY / conf).read_text().replace("server site:8000;", "server 127.0.0.1:8000;")
    text = text.replace("/etc/letsencrypt/live/chatbili.example.org/fullchain.pem", cert)
    text = text.replace("/etc/letsencrypt/live/chatbili.example.org/privkey.pem", key)
    (tmp_path / "site.conf").write_text(text)
    main = f"error_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\n"
    main += f"events {{}}\nhttp {{\ninclude {tmp_path}/site.conf;\n}}\n"
    (tmp_path / "main.conf").write_text(main)
    result = subprocess.run(["nginx", "-t", "-c", str(tmp_path / "main.conf")], capture_output=True, text=True)
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        0,
        f"nginx: configuration file {tmp_path}/main.conf test is successful",
    )
