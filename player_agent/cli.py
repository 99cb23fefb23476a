"""`signage-player`: enroll a screen, run it, and let a technician see its state and check the box."""

from __future__ import annotations

import ctypes
import logging
import signal
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from player_agent.agent import AGENT_VERSION, Agent, read_status
from player_agent.cache import CacheError, peek_status
from player_agent.config import ConfigError, PlayerSettings, load_settings
from player_agent.enrol import EnrolmentError, apply_enrolment, read_identity, request_enrolment
from player_agent.fsutil import LockedError
from player_agent.health import CheckStatus, overall, run_checks
from player_agent.journal import JournalError, peek_pending
from player_agent.output import OutputError, open_blanking_output
from player_agent.state import PlayerState, StateError, StateStore

app = typer.Typer(help="Border-gate LED signage player.", no_args_is_help=True, add_completion=False)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="player.toml (default /etc/signage/player.toml)")
]


def _settings(config: Path | None) -> PlayerSettings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def enroll(
    server: Annotated[str, typer.Option("--server", help="server base URL, e.g. https://signage.example")],
    code: Annotated[str, typer.Option("--code", help="one-time enrolment code from the dashboard")],
    config: ConfigOpt = None,
) -> None:
    """Trade a one-time code for credentials; pins the server key and prints its fingerprint."""
    settings = _settings(config)
    try:
        answer = request_enrolment(server, code, agent_version=AGENT_VERSION)
        identity = apply_enrolment(settings.state_dir, answer, now=datetime.now(UTC))
    except EnrolmentError as exc:
        typer.echo(f"enrolment refused ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(1) from exc
    except StateError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"enrolled as screen {identity.screen_id}")
    typer.echo(f"groups: {', '.join(identity.groups) or '(none)'}")
    typer.echo("server key fingerprint (compare with the dashboard):")
    typer.echo(f"  {identity.fingerprint}")


def _return_big_buffers_to_the_os() -> None:
    """Frames are megabytes: with glibc's sliding mmap threshold they end up in a heap that never shrinks."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


_M_MMAP_THRESHOLD = -3  # from <malloc.h>


@app.command()
def run(config: ConfigOpt = None) -> None:
    """Play: last verified content at once, then online updates, alerts and telemetry."""
    settings = _settings(config)
    _return_big_buffers_to_the_os()
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        output = open_blanking_output(settings)
        agent = Agent(settings, output)
    except (OutputError, StateError, LockedError, CacheError, JournalError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc

    def _stop(signum: int, frame: FrameType | None) -> None:
        agent.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    raise typer.Exit(agent.run())


@app.command()
def status(config: ConfigOpt = None) -> None:
    """What the player shows and holds, read without locks (safe while it runs)."""
    settings = _settings(config)
    live = read_status(settings.state_dir) or {}
    problems = [str(p) for p in live.get("problems") or []]
    try:
        store = StateStore(settings.state_file)
        state = store.state
        if store.problem is not None and not problems:
            problems.append(store.problem)  # the player has not run since: it repairs this at start
    except StateError as exc:
        # Damaged beyond its copy: the running player rebuilds it; show what is known meanwhile.
        typer.echo(f"error: {exc}", err=True)
        state = PlayerState(screen_id=str(live.get("screen_id") or "?"))
    if not state.enrolled:
        typer.echo("not enrolled (run `signage-player enroll --server URL --code CODE`)")
        raise typer.Exit(1)
    kept = read_identity(settings.state_dir)
    identity = kept.value
    if kept.problem is not None and not problems:
        problems.append(kept.problem)
    cache = peek_status(settings.cache_dir)
    lines = [
        ("screen", state.screen_id or "?"),
        ("groups", ", ".join(identity.groups) if identity and identity.groups else "(none)"),
        ("server key", identity.fingerprint if identity else "(unknown)"),
        ("manifest version", str(state.manifest_version or "none")),
        ("showing", _showing(live)),
        ("stale", "yes (past the manifest horizon)" if live.get("stale") else "no"),
        ("brightness", str(live.get("brightness") or "not controlled (no plan, no sensor)")),
        ("connected", "yes" if live.get("connected") else "no"),
        ("last contact", str(live.get("last_contact") or "never")),
        ("last error", str(live.get("last_error") or "none")),
        ("problems", "; ".join(problems) or "none"),
        ("cache", f"{cache.assets} assets, {cache.bytes} bytes, {cache.partial_bytes} bytes partial"),
        ("pending play records", str(peek_pending(settings.journal_dir))),
        ("status written", str(live.get("written_at") or "never (player not run yet)")),
    ]
    for label, value in lines:
        typer.echo(f"{label:>21}: {value}")


def _showing(live: dict[str, object]) -> str:
    kind = live.get("showing")
    if kind == "item":
        return f"slide {live.get('slide_id')} since {live.get('since')}"
    if kind == "alert":
        return f"URGENT ALERT {live.get('alert_id')} since {live.get('since')}"
    if kind == "off":
        return "blank (outside on-hours)"
    if kind in ("waiting", "identify"):
        return str(kind)
    return "unknown (player not running?)"


@app.command()
def check(config: ConfigOpt = None) -> None:
    """Fonts, Khmer shaping, clock, disk, state dir, output and broker TLS; exit 1 if any check fails."""
    settings = _settings(config)
    results = run_checks(settings, now=datetime.now(UTC))
    for result in results:
        typer.echo(f"[{result.status.value.upper():>4}] {result.name}: {result.detail}")
    worst = overall(results)
    typer.echo(f"overall: {worst.value}")
    if worst is CheckStatus.FAIL:
        raise typer.Exit(1)
