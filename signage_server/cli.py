"""The signage-server command: run, migrate, create-user, import-playlists, export, backup, restore, key."""

from __future__ import annotations

import datetime
import secrets
from pathlib import Path
from typing import Annotated, Any

import typer

from signage_server.config import Settings, load_settings
from signage_server.db import make_engine, session_factory, transaction, upgrade_to_head, utcnow
from signage_server.errors import ConfigError, SignageError
from signage_server.users.models import Role

app = typer.Typer(help="Border-gate LED signage controller: server administration.", no_args_is_help=True,
                  add_completion=False)


def _day(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-05-20") from None


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)


def _settings() -> Settings:
    try:
        settings = load_settings()
        settings.resolved_secret_key()  # refuse a weak secret before doing anything
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    return settings


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest version (safe to run again)."""
    settings = _settings()
    upgrade_to_head(make_engine(settings.resolved_database_url()))
    typer.echo("database is at the newest schema")


@app.command()
def run(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes (more than 1: see docs/operations.md)")] = 1,
) -> None:
    """Migrate, then serve the API and pages with uvicorn."""
    import uvicorn

    from signage_server.app import create_app

    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    log_level = "debug" if settings.dev else "info"
    if workers > 1:
        # Workers are separate processes: each builds its app from the environment by import path.
        engine.dispose()
        uvicorn.run("signage_server.asgi:production_app", factory=True, workers=workers, host=host, port=port,
                    proxy_headers=True, log_level=log_level)
        return
    uvicorn.run(create_app(settings, engine=engine), host=host, port=port, proxy_headers=True,
                log_level=log_level)


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[Role, typer.Option(help="admin, operator, translator or approver")],
    language: Annotated[list[str] | None, typer.Option(help="translators: a language they translate (repeat)")] = None,
    display_name: Annotated[str, typer.Option(help="the name shown in the interface")] = "",
    generate_password: Annotated[bool, typer.Option(help="generate a password and print it once")] = False,
    if_absent: Annotated[bool, typer.Option(help="do nothing (exit 0) when the user exists")] = False,
) -> None:
    """Create an account; the password is prompted for, never taken from the command line."""
    from signage_server.users import service as users

    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        if users.find_user(session, username=username) is not None:
            if if_absent:
                typer.echo(f"user {username} exists; nothing to do")
                return
            raise _fail(f"user {username} exists")
    if generate_password:
        password = secrets.token_urlsafe(15)
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with transaction(factory) as session:
            users.create_user(session, actor=None, username=username, display_name=display_name, role=role,
                              password=password, languages=language or [], now=utcnow())
    except SignageError as exc:
        raise _fail(exc.message) from None
    typer.echo(f"created {role.value} {username}")
    if generate_password:
        typer.echo(f"password (shown once): {password}")


@app.command("import-playlists")
def import_playlists(directory: Annotated[Path, typer.Argument(help="folder of .yaml content files")]) -> None:
    """Import sites, screens, slides and playlists; all or nothing, and idempotent."""
    from signage_server.assets.store import AssetStore
    from signage_server.content.service import import_content

    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    try:
        with transaction(session_factory(engine)) as session:
            report = import_content(session, directory=directory, store=AssetStore(settings.assets_dir),
                                    max_upload_bytes=settings.max_upload_bytes,
                                    max_image_pixels=settings.max_image_pixels, now=utcnow())
    except SignageError as exc:
        raise _fail(exc.message + " (nothing was imported)") from None
    counts = ", ".join(f"{n} {section}" for section, n in report.entries.items() if n)
    typer.echo(f"imported {len(report.files)} files ({counts}): {report.changes} changes")


@app.command()
def export(directory: Annotated[Path, typer.Argument(help="folder to write the export into")]) -> None:
    """Write all content as YAML plus images, in the format import-playlists reads."""
    from signage_server.assets.store import AssetStore
    from signage_server.content.service import export_content

    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    with transaction(session_factory(engine)) as session:
        target = export_content(session, directory=directory, store=AssetStore(settings.assets_dir))
    typer.echo(f"wrote {target}")


@app.command()
def backup(out: Annotated[Path, typer.Argument(help="archive to write, e.g. signage-2026-05-01.tar.gz")]) -> None:
    """Archive database, assets, keys and broker accounts; safe while the server runs."""
    from signage_server.backup.service import BackupError, create_backup

    settings = _settings()
    try:
        manifest = create_backup(database_url=settings.resolved_database_url(), data_dir=settings.data_dir,
                                 out=out, now=utcnow())
    except BackupError as exc:
        raise _fail(str(exc)) from None
    rows = sum(manifest.tables.values())
    files = sum(1 for m in manifest.members if m.name.startswith("data/"))
    typer.echo(f"wrote {out}: {rows} rows in {len(manifest.tables)} tables, {files} files, "
               f"schema {manifest.alembic_revision}")


@app.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="archive written by `signage-server backup`")],
    force: Annotated[bool, typer.Option(help="replace a database and data dir that already hold content")] = False,
) -> None:
    """Put a backup back (stop the server first); every hash is checked before anything changes."""
    from signage_server.backup.service import BackupError, restore_backup

    try:
        # Not _settings(): that would generate a fresh secret key the archive is about to replace.
        settings = load_settings()
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    try:
        report = restore_backup(archive=archive, database_url=settings.resolved_database_url(),
                                data_dir=settings.data_dir, force=force)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"restored {sum(report.tables.values())} rows in {len(report.tables)} tables and "
               f"{report.files} files (archive schema {report.alembic_revision}, now at the newest)")
@app.command("demo-accounts")
def demo_accounts() -> None:
    """Create the demo accounts (one per role) that are missing; each new password is printed once."""
    from signage_server.demo import DEMO_ACCOUNTS
    from signage_server.users import service as users

    settings = _settings()
    if not settings.dev:
        raise _fail("demo-accounts only runs with SIGNAGE_DEV=1")
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with transaction(session_factory(engine)) as session:
        for account in DEMO_ACCOUNTS:
            if users.find_user(session, username=account.username) is not None:
                continue
            password = secrets.token_urlsafe(12)
            users.create_user(session, actor=None, username=account.username, display_name=account.display_name,
                              role=account.role, password=password, languages=list(account.languages),
                              now=utcnow())
            typer.echo(f"  {account.role.value:<10} {account.username:<14} password (shown once): {password}")


@app.command("demo-approve")
def demo_approve() -> None:
    """Approve the imported (submitted) captions and slides as the demo accounts, so screens show content."""
    from signage_server.demo import approve_submitted
    from signage_server.manifests import service as manifests
    from signage_server.manifests.keys import KeyRing

    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    now = utcnow()
    try:
        with transaction(session_factory(engine)) as session:
            report = approve_submitted(session, dev=settings.dev, now=now)
            # Run before the server starts: it republishes every compiled manifest to the broker on start.
            results = manifests.compile_screens(session, screen_ids=manifests.all_screen_ids(session),
                                                key=KeyRing(settings.data_dir).current(), now=now,
                                                horizon_days=settings.manifest_horizon_days)
            for result in results:
                if result.error:
                    typer.echo(f"  screen {result.screen_id} not compiled: {result.error}")
    except SignageError as exc:
        raise _fail(exc.message) from None
    typer.echo(f"approved {report.captions} captions and {report.slides} slides; "
               f"{sum(r.new_version for r in results)} new manifest(s)")
    for line in report.skipped:
        typer.echo(f"  left for a person: {line}")


@app.command("enrolment-code")
def enrolment_code(screen: Annotated[str, typer.Argument(help="screen name, e.g. hoa-lu-arrivals")]) -> None:
    """Issue a one-time enrolment code for a screen (as the first admin account), for `signage-player enroll`."""
    from datetime import timedelta

    from signage_server.demo import issue_code_for

    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    try:
        with transaction(session_factory(engine)) as session:
            code = issue_code_for(session, screen_name=screen, secret=settings.resolved_secret_key(),
                                  ttl=timedelta(hours=settings.enrolment_code_hours), now=utcnow())
    except SignageError as exc:
        raise _fail(exc.message) from None
    typer.echo(code)


@app.command("bridge-config")
def bridge_config_command(
    region: Annotated[str, typer.Argument(help="a region name from SIGNAGE_MQTT_REGIONS, e.g. south")],
    central_host: Annotated[str, typer.Option(help="the central broker as the regional one reaches it")],
    central_port: Annotated[int, typer.Option(min=1, max=65535, help="its TLS (or plain) listener port")] = 8883,
    cafile: Annotated[str | None, typer.Option(help="CA file on the regional host that signed the central "
                                                     "broker's certificate (TLS)")] = None,
) -> None:
    """Print the bridge section to append to a regional broker's mosquitto.conf (it holds a password: 0600)."""
    from signage_server.transport.regions import bridge_config

    settings = _settings()
    chosen = settings.mqtt_regions.get(region)
    if chosen is None:
        raise _fail(f"no region {region!r} in SIGNAGE_MQTT_REGIONS (known: {', '.join(settings.mqtt_regions) or 'none'})")
    lines = bridge_config(region, central_host=central_host, central_port=central_port,
                          password=chosen.bridge_password.get_secret_value(), cafile=cafile)
    typer.echo("\n".join(lines))


@app.command("regional-broker")
def regional_broker_command(
    region: Annotated[str, typer.Argument(help="the region's name, e.g. south (as in SIGNAGE_MQTT_REGIONS)")],
    directory: Annotated[Path, typer.Option("--dir", help="the regional broker's own folder: config, dynsec, "
                                                          "persistence, log")],
    central_host: Annotated[str, typer.Option(help="the central broker as the regional one reaches it")],
    central_port: Annotated[int, typer.Option(min=1, max=65535, help="its TLS (or plain) listener port")] = 8883,
    cafile: Annotated[str | None, typer.Option(help="CA file that signed the central broker's certificate "
                                                     "(TLS)")] = None,
    host: Annotated[str, typer.Option(help="address the regional broker listens on")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(min=1, max=65535, help="its plain listener port")] = 1883,
    tls_cert: Annotated[Path | None, typer.Option(help="certificate for a TLS listener for the sites")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="its private key")] = None,
    tls_port: Annotated[int, typer.Option(min=1, max=65535, help="the TLS listener's port")] = 8883,
    public_url: Annotated[str | None, typer.Option(help="the address the region's players are told "
                                                        "(default: this host, plain port)")] = None,
    site: Annotated[list[str] | None, typer.Option(help="a site slug served by this region (repeat)")] = None,
    write_only: Annotated[bool, typer.Option(help="write mosquitto.conf and exit (to run it under the "
                                                  "system's mosquitto unit)")] = False,
) -> None:
    """Run a regional Mosquitto with dynsec and the bridge to the central broker, kept alive until Ctrl-C.

    Writes DIR/signage-region.json (0600): the entry to add to the server's SIGNAGE_MQTT_REGIONS.
    """
    import json
    import signal
    import socket
    import threading

    from signage_core.fsutil import atomic_write_bytes
    from signage_server.transport.broker import BrokerError, TlsListener
    from signage_server.transport.regions import region_entry, regional_broker

    try:
        configured = load_settings().mqtt_regions.get(region)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    sites = site or (configured.sites if configured else [])
    if not sites:  # the server refuses a region entry that serves no site: refuse before writing one
        raise _fail(f"region {region!r} serves no site: name its sites with --site SLUG (repeat it for each), "
                    "or configure the region in SIGNAGE_MQTT_REGIONS first")
    if (tls_cert is None) != (tls_key is None):
        raise _fail("give both --tls-cert and --tls-key, or neither")
    tls = TlsListener(tls_cert, tls_key, tls_port) if tls_cert is not None and tls_key is not None else None
    try:
        broker = regional_broker(
            region, directory, central_host=central_host, central_port=central_port, host=host, port=port,
            bridge_password=configured.bridge_password.get_secret_value() if configured else None,
            cafile=cafile, tls=tls)
        config = broker.write_config()
        reach = host if host not in ("0.0.0.0", "::") else socket.getfqdn()  # noqa: S104 - comparing
        url = public_url or (broker.tls_url(reach) if tls is not None else f"mqtt://{reach}:{broker.port}")
        entry = region_entry(broker, public_url=url, sites=sites)
        entry_path = directory / "signage-region.json"
        atomic_write_bytes(entry_path, json.dumps({region: entry}, indent=1).encode())
        typer.echo(f"config: {config}")
        typer.echo(f"SIGNAGE_MQTT_REGIONS entry (holds passwords): {entry_path}")
        if write_only:
            return
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        broker.start()
    except (BrokerError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"regional broker {region} on {host}:{broker.port} (pid {broker.pid}), bridged to "
               f"{central_host}:{central_port}; Ctrl-C stops it")
    try:
        stop.wait()
    finally:
        broker.stop()


key_app = typer.Typer(help="The manifest signing key (Ed25519) in the data dir.", no_args_is_help=True)
app.add_typer(key_app, name="key")


@key_app.command("fingerprint")
def key_fingerprint() -> None:
    """Print the public key's fingerprint (creating the key on first run), to compare with players."""
    from signage_server.manifests.keys import KeyRing

    ring = KeyRing(_settings().data_dir)
    try:
        public = ring.current().public_key
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot use the signing key: {exc}") from None
    typer.echo(f"key id:      {public.key_id}")
    typer.echo(f"fingerprint: {public.fingerprint}")
    typer.echo(f"public key:  {public.base64}")
    typer.echo(f"file:        {ring.path}")


@key_app.command("rotate")
def key_rotate(
    grace_hours: Annotated[int, typer.Option(help="hours players still trust the old key (0: retire at once, "
                                                    "for a compromised key)", min=0)] = 24,
) -> None:
    """New key plus a hand-over signed by the old key; every manifest is re-signed with the new key."""
    from datetime import timedelta

    from signage_server.manifests import service as manifests
    from signage_server.manifests.keys import KeyRing, rotate_key

    settings = _settings()
    now = utcnow()
    ring = KeyRing(settings.data_dir)
    try:
        ring.current()  # a server that never ran has no key to rotate from: create it first
        rotation = rotate_key(settings.data_dir, now=now, grace=timedelta(hours=grace_hours) if grace_hours else None)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot rotate the signing key: {exc}") from None
    typer.echo(f"rotated {rotation.old_key_id} -> {rotation.new_key_id}")
    typer.echo(f"hand-over: {rotation.handover_path}")
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    with transaction(session_factory(engine)) as session:
        results = manifests.compile_screens(session, screen_ids=manifests.all_screen_ids(session), key=ring.current(),
                                            now=now, horizon_days=settings.manifest_horizon_days)
    typer.echo(f"re-signed {sum(r.new_version for r in results)} manifest(s) with the new key")


report_app = typer.Typer(help="Reports as PDF, XLSX or CSV, for cron and the department's archive.",
                         no_args_is_help=True)
app.add_typer(report_app, name="report")
FormatOption = Annotated[str, typer.Option("--format", "-f", help="pdf, xlsx or csv")]
OutputOption = Annotated[Path, typer.Option("--output", "-o", help="file to write (replaced atomically)")]


def _write_report(output: Path, data: bytes) -> None:
    """Temp file beside the target, then rename: a cron job never leaves half a report behind."""
    import os
    import tempfile

    folder = output.resolve().parent
    if not folder.is_dir():
        raise _fail(f"folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _report(make: Any, fmt: str, output: Path) -> None:
    from signage_server.reports import periods
    from signage_server.reports import routes as reports

    if fmt not in reports.FORMATS:
        raise _fail(f"--format must be one of {', '.join(reports.FORMATS)}, not {fmt!r}")
    settings = _settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade_to_head(engine)
    now = utcnow()
    try:
        with transaction(session_factory(engine)) as session:
            b = make(session, settings, now)
            data = reports.render_file(b, fmt, today=periods.report_day(b, settings, now))
    except SignageError as exc:
        raise _fail(exc.message) from None
    _write_report(output, data)
    typer.echo(f"{b.title}: {output} ({len(data):,} bytes)")


@report_app.command("periodic")
def report_periodic(
    kind: Annotated[str, typer.Argument(help="half_year (due 20 May) or annual (due 15 November)")],
    output: OutputOption,
    year: Annotated[int | None, typer.Option(help="the report's year (default: the next one due)")] = None,
    fmt: FormatOption = "pdf",
) -> None:
    """The 6-month or annual report; an issued one is printed from its frozen record."""
    from signage_server.reports import routes as reports

    _report(lambda session, settings, now: reports.periodic_bundle(session, settings, now, kind, year)[0],
            fmt, output)


@report_app.command("range")
def report_range(
    start: Annotated[datetime.date, typer.Option("--from", help="first local day, YYYY-MM-DD", parser=_day)],
    end: Annotated[datetime.date, typer.Option("--to", help="last local day, YYYY-MM-DD", parser=_day)],
    output: OutputOption,
    fmt: FormatOption = "pdf",
) -> None:
    """Figures for any range of local days, both ends included."""
    from signage_server.reports import periods
    from signage_server.reports import routes as reports
    from signage_server.reports.calendar import make_period

    def make(session: Any, settings: Settings, now: Any) -> Any:
        period = make_period(start, end)
        return reports.bundle(session, settings, now, title=periods.range_title(period), period=period,
                              with_days=fmt != "csv")

    _report(make, fmt, output)


def main() -> None:
    app(prog_name="signage-server")


if __name__ == "__main__":
    main()
