"""`signage-player enroll / status / check` against a small in-test HTTP server speaking the enrolment contract."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from player_agent.cli import app
from player_agent.enrol import load_identity
from player_agent.state import StateStore
from signage_core.signing import load_trust_store
from tests.player.agent_world import SERVER_KEY, manifest, now_utc, signed

ERRORS = {
    "used": (409, "enrolment_code_used", "This code was already used by screen gate-3."),
    "expired": (410, "enrolment_code_expired", "This code expired at 07:00; ask for a new one."),
    "bogus": (404, "enrolment_code_invalid", "No such enrolment code."),
    "flood": (429, "rate_limited", "Too many attempts; wait a minute."),
}


class EnrolServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"path": self.path, **body})
                if self.path != "/api/v1/enrol":
                    self._send(404, {"error": {"code": "not_found", "message": "no route", "details": {}}})
                elif body["code"] in ERRORS:
                    status, code, message = ERRORS[body["code"]]
                    self._send(status, {"error": {"code": code, "message": message, "details": {}}})
                else:
                    pk = SERVER_KEY.public_key
                    self._send(200, {
                        "screen_id": "gate-7", "broker_url": "mqtt://127.0.0.1:18830", "username": "screen-gate-7",
                        "password": "s3cret-from-server", "server_public_key": pk.base64, "key_id": pk.key_id,
                        "fingerprint": pk.fingerprint, "groups": ["moc-bai"],
                        "server_time": datetime.now(UTC).isoformat(),
                    })

            def _send(self, status: int, payload: dict[str, object]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def enrol_server() -> Iterator[EnrolServer]:
    server = EnrolServer()
    yield server
    server.close()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "player.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\noutput = "null"\n', encoding="utf-8")
    return path


def test_enroll_pins_key_stores_credentials_and_prints_fingerprint(enrol_server: EnrolServer, config: Path,
                                                                   tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["enroll", "--server", enrol_server.url + "/", "--code", "K7M-2QX", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert SERVER_KEY.public_key.fingerprint in result.output
    assert "gate-7" in result.output
    assert enrol_server.requests[0]["code"] == "K7M-2QX" and enrol_server.requests[0]["agent_version"]
    state = StateStore(tmp_path / "state" / "state.json").state
    assert state.screen_id == "gate-7" and state.broker_password is not None
    assert state.broker_password.get_secret_value() == "s3cret-from-server"
    assert (tmp_path / "state" / "state.json").stat().st_mode & 0o777 == 0o600
    trust = load_trust_store(tmp_path / "state" / "trust.json")
    assert list(trust.keys) == [SERVER_KEY.key_id]
    identity = load_identity(tmp_path / "state")
    assert identity is not None and identity.groups == ("moc-bai",)
    assert identity.clock_offset_s is not None and abs(identity.clock_offset_s) < 5


@pytest.mark.parametrize("code", sorted(ERRORS))
def test_enroll_refusal_prints_message_exits_nonzero_changes_nothing(
    enrol_server: EnrolServer, config: Path, tmp_path: Path, code: str
) -> None:
    result = CliRunner().invoke(app, ["enroll", "--server", enrol_server.url, "--code", code, "-c", str(config)])
    status, error_code, message = ERRORS[code]
    assert result.exit_code != 0
    assert message in result.output and error_code in result.output
    assert not (tmp_path / "state" / "state.json").exists()
    assert not (tmp_path / "state" / "trust.json").exists()


def test_enroll_unreachable_server_names_the_url(config: Path) -> None:
    result = CliRunner().invoke(app, ["enroll", "--server", "http://127.0.0.1:9", "--code", "X", "-c", str(config)])
    assert result.exit_code != 0
    assert "cannot reach http://127.0.0.1:9/api/v1/enrol" in result.output


def test_status_reports_manifest_cache_and_pending_plays(enrol_server: EnrolServer, config: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["status", "-c", str(config)]).exit_code == 1  # not enrolled yet
    assert runner.invoke(app, ["enroll", "--server", enrol_server.url, "--code", "ok", "-c", str(config)]).exit_code == 0
    state_dir = tmp_path / "state"
    (state_dir / "manifest.json").write_bytes(signed(manifest("gate-7", 12, now=now_utc())))
    StateStore(state_dir / "state.json").accept_manifest(12)

    from player_agent.agent import Agent
    from player_agent.config import load_settings
    from player_agent.output.null import NullOutput

    agent = Agent(load_settings(config), NullOutput())
    agent.tick()
    agent._finish_current(now_utc())  # one play journaled, not sent (offline)
    agent._write_status(now_utc())
    agent.journal.close()
    agent.cache.close()

    result = runner.invoke(app, ["status", "-c", str(config)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "gate-7" in out and "moc-bai" in out
    assert "manifest version: 12" in out
    assert "pending play records: 1" in out
    assert "connected: no" in out and "last contact: never" in out
    assert SERVER_KEY.public_key.fingerprint in out


def test_check_lists_each_check_and_exit_code_follows_worst(config: Path) -> None:
    result = CliRunner().invoke(app, ["check", "-c", str(config)])
    lines = result.output.splitlines()
    for name in ("fonts", "raqm", "clock", "state dir", "disk"):
        assert any(f"] {name}:" in line for line in lines), result.output
    worst = lines[-1].removeprefix("overall: ")
    assert result.exit_code == (1 if worst == "fail" else 0)
    assert "state dir" in result.output and "does not exist" in result.output  # never enrolled here


def test_second_run_while_one_plays_refuses_by_name(enrol_server: EnrolServer, config: Path, tmp_path: Path) -> None:
    from player_agent.journal import Journal

    runner = CliRunner()
    assert runner.invoke(app, ["enroll", "--server", enrol_server.url, "--code", "ok", "-c", str(config)]).exit_code == 0
    with Journal(tmp_path / "state" / "journal"):  # what a running player holds
        result = runner.invoke(app, ["run", "-c", str(config)])
    assert result.exit_code == 1
    assert "in use by another process" in result.output


def test_enroll_repairs_a_state_file_damaged_beyond_its_copy(enrol_server: EnrolServer, config: Path,
                                                             tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["enroll", "--server", enrol_server.url, "--code", "ok", "-c", str(config)]).exit_code == 0
    state_dir = tmp_path / "state"
    StateStore(state_dir / "state.json").accept_manifest(9)
    for name in ("state.json", "state.json.last-good"):
        (state_dir / name).write_bytes(b"\x00" * 40)  # a dead sector under both copies
    result = runner.invoke(app, ["enroll", "--server", enrol_server.url, "--code", "ok", "-c", str(config)])
    assert result.exit_code == 0, result.output
    state = StateStore(state_dir / "state.json").state
    assert state.screen_id == "gate-7" and state.broker_password is not None
    assert state.groups == ("moc-bai",)
    assert (state_dir / "state.json.damaged").read_bytes() == b"\x00" * 40
