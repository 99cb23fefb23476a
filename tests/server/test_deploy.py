"""The production deploy files: units verify, scripts are clean, and the broker config really locks down."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from signage_core.mqtt_client import make_client
from signage_core.protocol import parse_broker_url, screen_client_id
from signage_server.app import STATIC_DIR
from signage_server.db import make_engine, upgrade_to_head
from signage_server.transport.accounts import DynsecAccounts
from signage_server.transport.broker import (
    find_dynsec_plugin,
    find_mosquitto,
    free_port,
    initial_dynsec_config,
)
from tests.broker_fixtures import RawClient
from tests.server.conftest import TEST_SECRET

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (apt-get install {name})")
    return found


@pytest.mark.parametrize("script", ["install-server.sh", "install-player.sh", "install-lib.sh", "signage-server.sh",
                                    "postgres/setup.sh", "certbot/signage-deploy-hook.sh"])
def test_shell_scripts_pass_shellcheck(script: str) -> None:
    result = subprocess.run([_tool("shellcheck"), "--severity=style", str(DEPLOY / script)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("unit", ["signage-server.service", "signage-scheduler.service",
                                  "signage-backup.service", "signage-backup.timer"])
def test_units_pass_systemd_verify(unit: str, tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    # Point the units at this checkout's venv so verify can check the commands exist.
    text = (DEPLOY / unit).read_text().replace("/opt/signage-server/venv/bin", str(VENV_BIN))
    (tmp_path / unit).write_text(text)
    if unit.endswith(".timer"):
        (tmp_path / "signage-backup.service").write_text((DEPLOY / "signage-backup.service").read_text())
    result = subprocess.run([analyze, "verify", str(tmp_path / unit)], capture_output=True, text=True,
                            check=False, env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if unit.split(".")[0] in line or "signage" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


@pytest.mark.parametrize(("unit", "threshold"), [("signage-server.service", 20), ("signage-scheduler.service", 20),
                                               ("signage-backup.service", 20), ("signage-player.service", 40)])
def test_units_are_sandboxed(unit: str, threshold: int) -> None:
    """systemd-analyze's exposure (0-100 here, 0.0-10.0 as it prints): docs/operations.md lists the figures."""
    analyze = _tool("systemd-analyze")
    result = subprocess.run([analyze, "security", "--offline=true", f"--threshold={threshold}", str(DEPLOY / unit)],
                            capture_output=True, text=True, check=False)
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("systemd-analyze too old for --offline (systemd 252 or newer)")
    assert result.returncode == 0, result.stdout.splitlines()[-1:]


def test_api_workers_never_schedule_and_the_scheduler_unit_always_does() -> None:
    api = (DEPLOY / "signage-server.service").read_text()
    scheduler = (DEPLOY / "signage-scheduler.service").read_text()
    # Forced on the command line: a value in the env file cannot turn a second scheduler on.
    assert re.search(r"ExecStart=/usr/bin/env SIGNAGE_RUN_SCHEDULER=false ", api)
    assert re.search(r"ExecStart=/usr/bin/env SIGNAGE_RUN_SCHEDULER=true ", scheduler)
    assert "--workers 1 " in scheduler and "--workers ${SIGNAGE_WORKERS}" in api


def test_the_worker_factory_reads_its_settings_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from signage_server.asgi import production_app

    url = f"sqlite:///{tmp_path / 'signage.db'}"
    engine = make_engine(url)
    upgrade_to_head(engine)
    engine.dispose()
    for key, value in {"SIGNAGE_DATA_DIR": str(tmp_path), "SIGNAGE_DATABASE_URL": url,
                       "SIGNAGE_SECRET_KEY": TEST_SECRET, "SIGNAGE_RUN_SCHEDULER": "false",
                       "SIGNAGE_MIGRATE_ON_START": "false", "SIGNAGE_MQTT_ENABLED": "false",
                       "SIGNAGE_WORKERS": "4"}.items():
        monkeypatch.setenv(key, value)
    app = production_app()
    assert app.state.settings.run_scheduler is False
    with TestClient(app) as client:
        assert client.get("/readyz").json()["status"] == "ok"


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signage.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "signage.crt", tmp_path / "signage.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


# Debian 12's /etc/mosquitto/mosquitto.conf as the package ships it: the installer leaves it alone.
DEBIAN_MOSQUITTO_CONF = """\
# Place your local configuration in /etc/mosquitto/conf.d/
pid_file /run/mosquitto/mosquitto.pid

persistence true
persistence_location /var/lib/mosquitto/

log_dest file /var/log/mosquitto/mosquitto.log

include_dir /etc/mosquitto/conf.d
"""


@pytest.fixture
def production_broker(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """Debian's mosquitto.conf plus deploy/mosquitto/signage.conf in its conf.d, paths and ports moved, running."""
    try:
        mosquitto, plugin = find_mosquitto(), find_dynsec_plugin()
    except Exception as exc:  # skip with the install hint the message carries
        pytest.skip(str(exc))
    cert, key = _self_signed(tmp_path)
    local_port, tls_port = free_port(), free_port()
    dynsec = tmp_path / "dynamic-security.json"
    dynsec.write_text(json.dumps(initial_dynsec_config("signage-server", "broker-admin-pw")))
    (tmp_path / "persist").mkdir()
    (tmp_path / "conf.d").mkdir()
    moved = {"/run/mosquitto/mosquitto.pid": str(tmp_path / "mosquitto.pid"),
             "/var/lib/mosquitto/": f"{tmp_path}/persist/",
             "/var/log/mosquitto/mosquitto.log": str(tmp_path / "mosquitto.log"),
             "/etc/mosquitto/conf.d": str(tmp_path / "conf.d")}
    main = DEBIAN_MOSQUITTO_CONF
    for old, new in moved.items():
        main = main.replace(old, new)
    text = (DEPLOY / "mosquitto" / "signage.conf").read_text()
    for old, new in {"listener 1883 127.0.0.1": f"listener {local_port} 127.0.0.1",
                     "listener 8883": f"listener {tls_port} 127.0.0.1",
                     "/etc/mosquitto/certs/signage.crt": str(cert), "/etc/mosquitto/certs/signage.key": str(key),
                     "@DYNSEC_PLUGIN@": plugin, "/var/lib/signage/broker/dynamic-security.json": str(dynsec)}.items():
        assert old in text, f"{old} no longer in the production config"
        text = text.replace(old, new)
    if os.geteuid() == 0:
        text += "user root\n"  # mosquitto drops root to 'mosquitto', who cannot read the temp dir
    (tmp_path / "conf.d" / "signage.conf").write_text(text)
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(main)
    proc = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mosquitto refused the production config: {proc.stderr.read() if proc.stderr else ''!r}"
                            f" {(tmp_path / 'mosquitto.log').read_text() if (tmp_path / 'mosquitto.log').exists() else ''}")
            try:
                socket.create_connection(("127.0.0.1", tls_port), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", local_port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not open its listeners"
                time.sleep(0.05)
        yield local_port, tls_port, cert
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connack(url: str) -> str:
    """Connect once and return the broker's answer (or the transport error) as text."""
    params = parse_broker_url(url)
    client = make_client(params, f"deploy-test-{time.monotonic_ns()}")
    answered = threading.Event()
    result: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        result.append(str(reason))
        answered.set()

    def on_disconnect(_c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        result.append(f"disconnected: {reason}")
        answered.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(params.host, params.port, keepalive=10)
    except (OSError, ValueError) as exc:
        return f"error: {exc}"
    client.loop_start()
    try:
        answered.wait(5)
    finally:
        client.loop_stop()
        client.disconnect()
    return result[0] if result else "no answer"


def test_production_broker_needs_credentials_and_serves_players_over_tls(
        production_broker: tuple[int, int, Path]) -> None:
    local_port, tls_port, cert = production_broker
    assert _connack(f"mqtt://signage-server:broker-admin-pw@127.0.0.1:{local_port}") == "Success"
    assert _connack(f"mqtt://127.0.0.1:{local_port}") == "Not authorized"  # no anonymous access
    assert _connack(f"mqtt://signage-server:wrong@127.0.0.1:{local_port}") == "Not authorized"
    assert _connack(f"mqtts://signage-server:broker-admin-pw@127.0.0.1:{tls_port}?ca={cert}") == "Success"
    assert _connack(f"mqtts://127.0.0.1:{tls_port}?ca={cert}") == "Not authorized"
    # Plain MQTT on the players' port gets no CONNACK: the listener speaks TLS only.
    assert _connack(f"mqtt://signage-server:broker-admin-pw@127.0.0.1:{tls_port}") != "Success"


def test_production_broker_refuses_one_screens_account_under_anothers_client_id(
        production_broker: tuple[int, int, Path]) -> None:
    local_port, tls_port, cert = production_broker
    admin = parse_broker_url(f"mqtt://signage-server:broker-admin-pw@127.0.0.1:{local_port}")
    with DynsecAccounts(admin) as accounts:
        one, three = accounts.add_screens(["1", "3"])
    players = parse_broker_url(f"mqtts://127.0.0.1:{tls_port}?ca={cert}")
    screen_one = RawClient(players.with_credentials("1", one.password), screen_client_id("1"))
    assert not screen_one.connect().is_failure
    intruder = RawClient(players.with_credentials("3", three.password), screen_client_id("1"))
    assert intruder.connect().is_failure
    assert not screen_one.disconnected.wait(1), "screen 1's session was closed by the intruder"
    screen_one.close()


def test_installer_adds_a_conf_d_file_and_leaves_debians_mosquitto_conf_alone() -> None:
    script = (DEPLOY / "install-server.sh").read_text()
    assert "/etc/mosquitto/conf.d/signage.conf" in script
    assert not re.search(r">\s*/etc/mosquitto/mosquitto\.conf\b", script), "the installer overwrites Debian's file"


def test_certbot_deploy_hook_hands_the_renewed_certificate_to_mosquitto(tmp_path: Path) -> None:
    live, other, tls, certs = (tmp_path / d for d in ("live/signage.test", "live/other.test", "tls", "certs"))
    for folder in (live, other, tls, certs):
        folder.mkdir(parents=True)
    for folder, text in ((live, "renewed"), (other, "someone else's")):
        (folder / "fullchain.pem").write_text(f"{text} chain")
        (folder / "privkey.pem").write_text(f"{text} key")
    (tls / "fullchain.pem").symlink_to(live / "fullchain.pem")
    (certs / "signage.crt").write_text("old chain")
    calls = tmp_path / "systemctl.log"
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    systemctl.chmod(0o755)
    env = {**os.environ, "SIGNAGE_TLS_DIR": str(tls), "SIGNAGE_MOSQUITTO_CERTS": str(certs),
           "SIGNAGE_SYSTEMCTL": str(systemctl), "SIGNAGE_MOSQUITTO_GROUP": str(os.getegid())}
    hook = str(DEPLOY / "certbot" / "signage-deploy-hook.sh")
    if os.geteuid() != 0:
        pytest.skip("the hook sets root ownership: run as root")
    ignored = subprocess.run([hook], env={**env, "RENEWED_LINEAGE": str(other)}, capture_output=True, text=True,
                             check=False)
    assert ignored.returncode == 0 and (certs / "signage.crt").read_text() == "old chain" and not calls.exists()
    done = subprocess.run([hook], env={**env, "RENEWED_LINEAGE": str(live)}, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert (certs / "signage.crt").read_text() == "renewed chain" and (certs / "signage.key").read_text() == "renewed key"
    assert (certs / "signage.key").stat().st_mode & 0o777 == 0o640
    assert calls.read_text().splitlines() == ["restart mosquitto.service", "reload nginx.service"]


def test_postgres_setup_script_creates_role_and_database_idempotently(postgres_admin_url: str) -> None:
    if os.environ.get("SIGNAGE_TEST_POSTGRES_URL") or os.geteuid() != 0:
        pytest.skip("needs the tests' own PostgreSQL cluster and root (the script runs psql as postgres)")
    admin = sa.make_url(postgres_admin_url)
    env = {**os.environ, "PGHOST": str(admin.query["host"]), "PGPORT": str(admin.query["port"])}
    role = "signage_setup_" + os.urandom(3).hex()
    for _ in range(2):  # a second run must succeed and keep the database
        result = subprocess.run([str(DEPLOY / "postgres" / "setup.sh"), "--role", role, "--database", role],
                                capture_output=True, text=True, env=env, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"SIGNAGE_DATABASE_URL=postgresql+psycopg://{role}:")
    engine = sa.create_engine(postgres_admin_url.replace("postgres@", f"{role}@").replace("/postgres?", f"/{role}?"))
    with engine.begin() as conn:
        owner = conn.execute(sa.text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :d"),
                             {"d": role}).scalar()
        conn.execute(sa.text("CREATE TABLE proof (id int)"))  # the role can migrate its schema
        superuser = conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    engine.dispose()
    assert owner == role and superuser is False
    refused = subprocess.run([str(DEPLOY / "postgres" / "setup.sh"), "--role", "x; DROP ROLE postgres"],
                             capture_output=True, text=True, env=env, check=False)
    assert refused.returncode == 2 and "not a plain lowercase" in refused.stderr


def test_postgres_setup_script_keeps_the_password_off_psqls_command_line(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the script refuses to run as anyone but root")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Stand-ins that record what `ps` would show (argv) and what psql reads (stdin).
    (bin_dir / "runuser").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/argv\ncat >> {tmp_path}/stdin\n')
    (bin_dir / "psql").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    secret = "s3cret'with\\quote"
    (tmp_path / "pw").write_text(secret + "\n")
    result = subprocess.run([str(DEPLOY / "postgres" / "setup.sh"), "--password-file", str(tmp_path / "pw")],
                            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "s3cret" not in (tmp_path / "argv").read_text()
    assert "\\set pw 's3cret''with\\\\quote'" in (tmp_path / "stdin").read_text()  # psql-quoted on stdin


class _Echo(http.server.BaseHTTPRequestHandler):
    """The upstream stand-in: answers with the headers nginx forwarded and the body size it got."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        remaining = length
        while remaining:
            remaining -= len(self.rfile.read(min(remaining, 1 << 20)))
        body = json.dumps({"headers": {k.lower(): v for k, v in self.headers.items()}, "received": length}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def _nginx_binary() -> str:
    found = os.environ.get("SIGNAGE_TEST_NGINX") or shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        pytest.skip("nginx is not installed (apt-get install nginx, or set SIGNAGE_TEST_NGINX)")
    return found


def test_nginx_redirects_to_https_forwards_client_details_and_limits_uploads(tmp_path: Path) -> None:
    nginx = _nginx_binary()
    cert, key = _self_signed(tmp_path)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    http_port, https_port = free_port(), free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    site = (DEPLOY / "nginx" / "signage.conf").read_text()
    for old, new in {"server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream.server_address[1]};",
                     "listen 80;": f"listen 127.0.0.1:{http_port};", "listen [::]:80;": "",
                     "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
                     "listen [::]:443 ssl http2;": "", "@SERVER_NAME@": "signage.test",
                     "/etc/ssl/signage/fullchain.pem": str(cert), "/etc/ssl/signage/privkey.pem": str(key),
                     "/var/log/nginx/": f"{logs}/", "/opt/signage-server/static/": f"{STATIC_DIR}/"}.items():
        assert old in site, f"{old} no longer in the nginx config"
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site)
    temp = "".join(f"{kind}_temp_path {tmp_path}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                        "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {logs}/error.log; daemon off; master_process off;\n"
        f"events {{}}\nhttp {{ access_log {logs}/access.log; {temp} include {tmp_path}/site.conf; }}\n")
    args = [nginx, "-p", str(tmp_path), "-e", f"{logs}/error.log", "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run([*args, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        with httpx.Client(verify=False, headers={"Host": "signage.test"}, timeout=30) as client:  # noqa: S501
            plain = client.get(f"http://127.0.0.1:{http_port}/slides?page=2")
            assert plain.status_code == 301
            assert plain.headers["location"] == "https://signage.test/slides?page=2"
            answer = client.get(f"https://127.0.0.1:{https_port}/api/v1/slides",
                                headers={"X-Forwarded-For": "203.0.113.9"})
            assert answer.status_code == 200 and "max-age" in answer.headers["strict-transport-security"]
            static = client.get(f"https://127.0.0.1:{https_port}/static/app.css")
            assert static.status_code == 200 and "max-age" in static.headers["strict-transport-security"]
            assert static.headers.get_list("cache-control") == ["public, max-age=604800"]
            assert static.headers["x-content-type-options"] == "nosniff"
            forwarded = answer.json()["headers"]
            assert forwarded["x-forwarded-proto"] == "https" and forwarded["host"] == "signage.test"
            assert forwarded["x-real-ip"] == "127.0.0.1"  # the client's address, not what it claimed
            upload = b"\0" * (20 * 1024 * 1024)
            assert client.post(f"https://127.0.0.1:{https_port}/api/v1/assets",
                               content=upload).json()["received"] == len(upload)
            too_big = client.post(f"https://127.0.0.1:{https_port}/api/v1/assets",
                                  content=b"\0" * (50 * 1024 * 1024 + 1))
            assert too_big.status_code == 413
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        upstream.shutdown()
