"""The app's MQTT side: the broker (managed or external), accounts, hub and chunk server, wired to the DB."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, select

from signage_core.protocol import (
    AlertAck,
    BrokerParams,
    Heartbeat,
    KeyHandoverChain,
    PlayLogBatch,
    ProtocolError,
    ScreenshotHeader,
    Status,
    decode_envelope,
    encode,
    parse_broker_url,
)
from signage_core.signing import Envelope
from signage_server.alerts import service as alerts
from signage_server.config import Settings
from signage_server.db import READ_MOSTLY, SessionFactory, saved_id
from signage_server.errors import SignageError
from signage_server.screens.models import Enrolment, Screen, Site
from signage_server.telemetry import service as telemetry
from signage_server.transport.accounts import (
    AccountError,
    AccountExists,
    AccountNotFound,
    BrokerUnreachable,
    DynsecAccounts,
    ScreenCredentials,
)
from signage_server.transport.broker import BrokerError, ManagedMosquitto
from signage_server.transport.chunks import ChunkServer
from signage_server.transport.hub import ReportHandlers, ServerHub
from signage_server.transport.ids import parse_screen_wire_id, screen_alert_groups, screen_wire_id
from signage_server.transport.ownership import TransportLock, process_label
from signage_server.transport.regions import connect_region
from signage_server.transport.reports import Report, ReportBody, ReportWriter

log = logging.getLogger(__name__)


class BrokerUnavailable(SignageError):
    """The request needs the MQTT broker, which this server is not running (SIGNAGE_MQTT_ENABLED=false)."""

    status_code = 503
    code = "broker_unavailable"


class TransportOwnedElsewhere(RuntimeError):
    """Another process runs this deployment's MQTT side, and this one cannot share its managed broker."""

    def __init__(self, holder: str | None) -> None:
        super().__init__(f"the MQTT side runs in another process ({holder or 'owner unknown'}); this process "
                         "runs without it")
        self.holder = holder


MANAGED_RECONNECT_MAX_S = 2


def running_transport(state: object, *, needed_for: str) -> TransportService:
    """The app's transport, or a 503 that says why this process has none."""
    transport: TransportService | None = getattr(state, "transport", None)
    if transport is not None:
        return transport
    holder: str | None = getattr(state, "transport_holder", None)
    if holder is not None:
        raise BrokerUnavailable(f"{needed_for} needs the MQTT broker; this process runs without it because the "
                                f"managed broker belongs to {holder}", details={"transport_owner": holder})
    raise BrokerUnavailable(f"{needed_for} needs the MQTT broker, which this server runs without "
                            "(SIGNAGE_MQTT_ENABLED=false)")


# The manifest history, as the transport reads it: each screen's newest signed envelope, and the assets
# its newest manifest names (the only ones it may fetch).
LatestEnvelopes = Callable[[Session, Sequence[int]], dict[int, bytes]]
ManifestAssets = Callable[[Session, int], frozenset[str]]

SCREENSHOT_BACKLOG = 4


class TransportService:
    """Starts and stops everything MQTT for the app; the only object routes and jobs talk to."""

    def __init__(
        self,
        settings: Settings,
        *,
        sessions: SessionFactory,
        clock: Callable[[], datetime],
        path_for: Callable[[str], Path | None],
        latest_envelopes: LatestEnvelopes,
        manifest_assets: ManifestAssets,
        handovers: Callable[[], list[Envelope]],
        lock: TransportLock | None = None,
    ) -> None:
        self.settings = settings
        # One owner per deployment hears reports, serves chunks, runs the jobs and manages the broker;
        # other processes (API workers) only publish and manage accounts. None: this process always owns it.
        self._lock = lock
        self.owner = False
        self.label = ""
        self._sessions = sessions
        self._clock = clock
        self._path_for = path_for
        self._latest_envelopes = latest_envelopes
        self._manifest_assets = manifest_assets
        self._handovers = handovers
        self.broker: ManagedMosquitto | None = None
        self.params: BrokerParams | None = None
        self.public_url = ""
        self.accounts: DynsecAccounts | None = None
        # Regional brokers (SIGNAGE_MQTT_REGIONS): screens of their sites have their accounts there.
        self.regions: dict[str, DynsecAccounts] = {}
        self._site_region = {site: name for name, region in settings.mqtt_regions.items() for site in region.sites}
        self._unsynced: set[str] = set()  # regions that missed an account change: reconciled by the jobs
        self.hub: ServerHub | None = None
        self.chunks: ChunkServer | None = None
        self._retained: dict[str, bytes] = {}  # manifest topic owner -> last payload, for broker restarts
        self._retained_lock = threading.Lock()
        self._stop = threading.Event()
        self._jobs: threading.Thread | None = None
        # Screenshots are decoded here, one at a time, never on the hub's network thread; a flood is dropped.
        self._screenshots = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screenshots")
        self._screenshot_slots = threading.BoundedSemaphore(SCREENSHOT_BACKLOG)
        # New manifests go out from here, after the commit that issued them, not on the approving request.
        self._publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="manifest-publisher")
        # Screen id -> (version, envelope) signed in this process, or None: read the newest from the database.
        self._to_publish: dict[str, tuple[int, bytes] | None] = {}
        self._published_versions: dict[str, int] = {}  # highest version this publisher sent per screen
        self._publish_lock = threading.Lock()
        # Heartbeats, statuses, play records and alert acks: stored in batches on the writer's thread.
        self.reports = ReportWriter(sessions, on_playlog_stored=self._ack_playlog,
                                    max_delay_s=settings.report_batch_delay_ms / 1000)

    # -- lifecycle

    def start(self) -> None:
        """Take the MQTT side if no other process has it; either way connect what this process publishes with."""
        s = self.settings
        self.label = process_label(self._clock())
        prefer = s.run_scheduler if s.transport_prefer_owner is None else s.transport_prefer_owner
        # With a shared broker an API worker leaves the MQTT side to the scheduler process for one
        # takeover interval (deploy starts the workers first), so heartbeats and play logs are not
        # handled beside user requests; if no scheduler has taken it by then, the worker does.
        defer = self._lock is not None and bool(s.mqtt_url) and not prefer
        self.owner = self._lock is None or (not defer and self._lock.try_acquire(self.label))
        if defer:
            log.info("leaving the MQTT side to the scheduler process for %.0f s; this process takes it over "
                     "if nobody has by then", s.transport_takeover_interval_s)
        elif not self.owner:
            holder = self.holder()
            if not s.mqtt_url:  # the managed broker is the owner's child: nothing here may start another
                raise TransportOwnedElsewhere(holder)
            log.warning("the MQTT side (reports, chunk server, jobs) runs in %s; this process only publishes and "
                        "takes over if that process ends", holder or "another process")
        if s.mqtt_url:
            url = parse_broker_url(s.mqtt_url, ca_file=s.mqtt_ca_file, certfile=s.mqtt_certfile,
                                   keyfile=s.mqtt_keyfile, insecure=s.mqtt_tls_insecure)
            username = s.mqtt_username or url.username
            password = s.mqtt_password.get_secret_value() if s.mqtt_password else url.password
            if not username or not password:
                raise BrokerError("SIGNAGE_MQTT_URL is set: give the admin account with SIGNAGE_MQTT_USERNAME "
                                  "and SIGNAGE_MQTT_PASSWORD (or user:password@ in the URL)")
            self.params = url.with_credentials(username, password)
            self.public_url = s.mqtt_public_url or BrokerParams(url.host, url.port, tls=url.tls).url()
        else:
            self.broker = ManagedMosquitto(s.broker_dir, host=s.mqtt_bind_host, port=s.mqtt_port)
            self.params = self.broker.start()
            if s.mqtt_bind_host in ("0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
                # The server's own clients go over loopback; sites are told the public URL.
                self.params = BrokerParams("127.0.0.1", self.broker.port, self.params.username, self.params.password)
            self.public_url = s.mqtt_public_url or f"mqtt://{_public_host(s.mqtt_bind_host)}:{self.broker.port}"
        self.reports.start()
        try:
            self.accounts = DynsecAccounts(self.params)
            self.accounts.connect()
            for name in s.mqtt_regions:
                try:
                    self._regional(name)
                except BrokerUnavailable as exc:  # its screens' enrolments fail until it answers; the rest works
                    self._unsynced.add(name)
                    log.error("%s", exc.message)
            # Republished from the hub's own reconnect, not the broker's restart: only then can it publish.
            # Toward our own local broker a reconnect is cheap, so the back-off stays short.
            self.hub = ServerHub(self.params, self._handlers(), clock=self._clock, listen=self.owner,
                                 on_reconnect=self._on_hub_reconnect,
                                 reconnect_max_s=MANAGED_RECONNECT_MAX_S if self.broker is not None else 30)
            self.hub.start()
            if self.owner:
                self._run_owner_side()
        except Exception:
            self.stop()
            raise
        self._stop.clear()
        if self.owner:
            log.info("this process runs the MQTT side (reports, chunk server, jobs) as %s", self.label)
        self._jobs = threading.Thread(target=self._run_jobs, name="transport-jobs", daemon=True)
        self._jobs.start()

    def _run_owner_side(self) -> None:
        """What exactly one process may do: hear reports, serve chunks, reconcile accounts, hold the key chain."""
        _, hub = self._need()
        if self.params is None:
            raise BrokerUnavailable("the MQTT transport is not running")
        if not hub.listening:
            hub.listen()
        if self.chunks is None:
            chunks = ChunkServer(self.params, may_fetch=self.may_fetch, path_for=self._path_for)
            chunks.start()
            self.chunks = chunks
        accounts, _ = self._need()
        for name, region in self.settings.mqtt_regions.items():
            # The regional broker's bridge logs in here with this account (bridge_config on its side).
            accounts.ensure_bridge(name, region.bridge_password.get_secret_value())
        with self._sessions() as session:
            self.reconcile(session)
        self.publish_key_chain()

    def _keep_or_take_ownership(self) -> None:
        """Owner: check the lock still holds (a PostgreSQL restart ends its session). Others: try to take it."""
        if self._lock is None:
            return
        if self.owner:
            if self._lock.still_held() or self._lock.try_acquire(self.label):
                return
            self.owner = False
            if self.chunks is not None:
                self.chunks.stop()
                self.chunks = None
            if self.hub is not None:
                self.hub.unlisten()
            log.error("lost the transport lock (its database connection ended) and %s holds it now: this "
                      "process stops hearing reports and serving chunks", self.holder() or "another process")
        elif self._lock.try_acquire(self.label):
            self._run_owner_side()
            self.owner = True
            log.warning("took over the MQTT side (reports, chunk server, jobs): its previous owner ended")

    def holder(self) -> str | None:
        """Who runs the MQTT side: this process or the lock holder's label."""
        if self.owner or self._lock is None:
            return self.label
        try:
            return self._lock.holder()
        except Exception:  # only for display
            log.exception("could not read who holds the MQTT side")
            return None

    def stop(self) -> None:
        """Stop jobs and clients, then the managed broker; safe to call twice or after a failed start."""
        self._stop.set()
        if self._jobs is not None:
            self._jobs.join(10)
            self._jobs = None
        # Manifests already committed go out before the connection does (a later start gets a fresh worker).
        self._publisher.shutdown(wait=True)
        self._publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="manifest-publisher")
        for part in (self.chunks, self.hub):
            if part is not None:
                part.stop()
        # Nothing more comes in: what the hub already queued is stored (and play records acknowledged) first.
        self.reports.stop()
        # Pictures already received are stored before the database goes; a later start gets a fresh worker.
        self._screenshots.shutdown(wait=True)
        self._screenshots = ThreadPoolExecutor(max_workers=1, thread_name_prefix="screenshots")
        if self.accounts is not None:
            self.accounts.close()
        for regional in self.regions.values():
            regional.close()
        self.regions = {}
        self.chunks = self.hub = None
        self.accounts = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self._lock is not None:
            self._lock.release()
        self.owner = False

    def _need(self) -> tuple[DynsecAccounts, ServerHub]:
        if self.accounts is None or self.hub is None:
            raise BrokerUnavailable("the MQTT transport is not running")
        return self.accounts, self.hub

    # -- manifests

    def publish_manifests(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Retained QoS 1 on each screen's topic, pipelined, remembered so a restarted broker gets them again."""
        _, hub = self._need()
        hub.publish_manifests(items)
        with self._retained_lock:
            self._retained.update(items)

    def publish_feeds(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Signed strip readings, retained per screen (docs/protocol.md, "Data feeds")."""
        _, hub = self._need()
        hub.publish_feeds(items)

    def _on_hub_reconnect(self) -> None:
        """The broker came back (restarted, or the network did): it may lack what was retained; the owner puts it back."""
        if self.owner:
            self.republish()

    def broker_state(self) -> dict[str, object]:
        """For /readyz: is the server's own broker connection up, and how often a managed broker restarted."""
        state: dict[str, object] = {
            "state": "connected" if self.hub is not None and self.hub.connected else "disconnected",
            "managed": self.broker is not None,
        }
        if self.broker is not None:
            state["restarts"] = self.broker.restarts
        return state

    def region_states(self) -> dict[str, dict[str, object]]:
        """For /readyz: each regional broker as the admin connection last saw it; never connects, never waits."""
        states: dict[str, dict[str, object]] = {}
        for name, region in self.settings.mqtt_regions.items():
            accounts = self.regions.get(name)  # absent: unreachable since start, the jobs keep trying
            states[name] = {"state": "connected" if accounts is not None and accounts.connected else "unreachable",
                            "sites": list(region.sites), "accounts_synced": name not in self._unsynced}
        return states

    def republish(self) -> None:
        """Broker restart hook: put back the key chain, every screen's manifest (persistence may lag ~1 s), alerts."""
        if self.hub is None:
            return
        try:
            self.publish_key_chain()
        except (RuntimeError, OSError, ValueError) as exc:  # the key watch publishes it again on its next change
            log.error("could not republish the key hand-over chain: %s", exc)
        self.republish_manifests()
        try:
            with self._sessions() as session:
                alerts.republish_active(session, publisher=self, now=self._clock())
        except Exception:  # the next launch or withdrawal settles the topics again
            log.exception("could not republish active alerts after a broker restart")

    def republish_manifests(self) -> int:
        """Publish every enrolled screen's newest manifest again (after a restart or a key rotation)."""
        with self._retained_lock:
            payloads = dict(self._retained)
        if self.hub is None:
            return 0
        # The database knows manifests published before this process started; memory does not.
        with self._sessions() as session:
            enrolled = [sid for sid in session.exec(select(Screen.id).where(
                Screen.enrolment == Enrolment.ENROLLED)).all() if sid is not None]
            for screen_id, payload in self._latest_envelopes(session, enrolled).items():
                payloads[screen_wire_id(screen_id)] = payload
        try:
            self.hub.publish_manifests(sorted(payloads.items()))
        except RuntimeError as exc:
            log.error("could not republish every manifest: %s", exc)
        log.info("republished %d retained manifests", len(payloads))
        return len(payloads)

    # -- keys

    def publish_key_chain(self) -> int:
        """Retained chain of every hand-over, oldest first; returns how many it holds."""
        _, hub = self._need()
        chain = KeyHandoverChain(handovers=[e.model_dump(mode="json") for e in self._handovers()])
        hub.publish_key_chain(encode(chain))
        return len(chain.handovers)

    def may_fetch(self, wire_id: str, sha256: str) -> bool:
        """The chunk server's check: only what the screen's newest manifest names."""
        try:
            screen_id = parse_screen_wire_id(wire_id)
        except ProtocolError:
            return False
        with self._sessions() as session:
            return sha256 in self._manifest_assets(session, screen_id)

    def on_manifests(self, screen_ids: Iterable[str | int]) -> None:
        """manifest_events subscriber: publish each screen's newest envelope after its commit, pipelined."""
        if self.hub is None:
            return
        wires = {parse_screen_wire_id(str(screen_id)): str(screen_id) for screen_id in screen_ids}
        with self._sessions() as session:
            # Only reads: on SQLite it must not queue for the write lock the committing request may still hold.
            session.connection(execution_options={READ_MOSTLY: True})
            payloads = self._latest_envelopes(session, sorted(wires))
        self.publish_manifests([(wires[sid], payload) for sid, payload in sorted(payloads.items())])

    def on_manifests_later(self, screen_ids: Iterable[str | int],
                           envelopes: Mapping[str, tuple[int, bytes]] | None = None) -> None:
        """manifest_events subscriber: queue the screens for the publisher thread and return at once.

        The approving request then ends at its commit; screens queued while a publish runs go out together
        in the next one, in commit order. `envelopes` (screen id -> version, envelope just signed) spare
        the publisher reading them back; a screen without one gets its newest, read at publish time.
        """
        with self._publish_lock:
            idle = not self._to_publish
            queue_newest(self._to_publish, screen_ids, envelopes or {})
        if idle:
            try:
                self._publisher.submit(self._publish_queued)
            except RuntimeError:  # shutting down: the next start republishes from the database
                log.warning("manifests not published: the transport is stopping")

    def _publish_queued(self) -> None:
        with self._publish_lock:
            queued, self._to_publish = self._to_publish, {}
        if not queued:
            return
        # A request thread may queue its envelope after a newer one for the same screen went out
        # (descheduled between its commit and its listener): never put an older manifest back.
        sent = self._published_versions  # only this (single) publisher thread reads or writes it
        known = sorted((sid, signed[1]) for sid, signed in queued.items()
                       if signed is not None and signed[0] > sent.get(sid, 0))
        for sid, signed in queued.items():
            if signed is not None:
                sent[sid] = max(signed[0], sent.get(sid, 0))
        unknown = [sid for sid, signed in queued.items() if signed is None]
        try:
            if known:
                self.publish_manifests(known)
            if unknown:
                self.on_manifests(unknown)
        except Exception:  # the broker refused or is away: its reconnect republishes every manifest
            log.exception("publishing the manifests of %d screen(s) failed", len(queued))

    # -- alerts (AlertPublisher)

    def publish_alert(self, group: str, payload: bytes) -> None:
        _, hub = self._need()
        hub.publish_alert(group, decode_envelope(payload))

    def clear_alert(self, group: str) -> None:
        _, hub = self._need()
        hub.clear_alert(group)

    # -- accounts

    def _regional(self, name: str) -> DynsecAccounts:
        """The admin connection to one regional broker, made on first need (it may have been down at start)."""
        accounts = self.regions.get(name)
        if accounts is None:
            try:
                accounts = connect_region(self.settings.mqtt_regions[name])
            except AccountError as exc:
                raise BrokerUnavailable(f"the regional broker {name!r} is unreachable: {exc}") from None
            self.regions[name] = accounts
        return accounts

    def region_of(self, site: str | None) -> str | None:
        """The region whose broker the screens of a site (by slug) use; None: the central broker."""
        return self._site_region.get(site) if site is not None else None

    def broker_url_for(self, site: str | None) -> str:
        """The broker address an enrolling player of that site is told."""
        name = self.region_of(site)
        return self.public_url if name is None else self.settings.mqtt_regions[name].public_url

    def _accounts_for(self, site: str | None) -> DynsecAccounts:
        accounts, _ = self._need()
        name = self.region_of(site)
        if name is None:
            return accounts
        try:
            return self._regional(name)
        except BrokerUnavailable:
            self._unsynced.add(name)  # whatever this change was, the jobs reconcile that broker once it answers
            raise

    def _site_of(self, screen_id: int) -> str | None:
        """The screen's site slug, read only when regions are configured (it decides the broker)."""
        if not self._site_region:
            return None
        with self._sessions() as session:
            # Only reads, and it may run from a request's commit hook: it must not queue for the write lock.
            session.connection(execution_options={READ_MOSTLY: True})
            return session.exec(select(Site.slug).join(Screen, col(Screen.site_id) == col(Site.id)).where(
                Screen.id == screen_id)).first()

    def enrol_account(self, screen_id: int, group_ids: Iterable[int], *, site: str | None = None) -> ScreenCredentials:
        """A broker account for a newly enrolled screen; a re-enrolled one's old box is kicked and locked out."""
        accounts = self._accounts_for(site)
        wire = screen_wire_id(screen_id)
        groups = screen_alert_groups(screen_id, group_ids)
        try:
            # Checked first: add_screen replaces a leftover role, and deleting the role of a connected client
            # crashes Mosquitto 2.0 (eclipse-mosquitto/mosquitto#2660).
            if accounts.has_screen(wire):
                return accounts.reenrol_screen(wire, groups=groups)
            try:
                return accounts.add_screen(wire, groups=groups)
            except AccountExists:  # made between the check and here: treat it as the screen's account
                return accounts.reenrol_screen(wire, groups=groups)
        except BrokerUnreachable as exc:  # went down since it was last used: no code spent, try again later
            self._missed(site)
            name = self.region_of(site)
            raise BrokerUnavailable(f"the {f'regional broker {name!r}' if name else 'broker'} is unreachable: "
                                    f"{exc}") from None

    def sync_groups(self, screen_id: int, group_ids: Iterable[int]) -> None:
        """Group membership changed in the DB: the broker follows (and kicks the session to apply it)."""
        site = self._site_of(screen_id)
        accounts = self._accounts_for(site)
        try:
            accounts.set_screen_groups(screen_wire_id(screen_id), screen_alert_groups(screen_id, group_ids))
        except AccountNotFound:
            pass  # not enrolled yet: the account is created with its groups at enrolment
        except AccountError:
            self._missed(site)
            raise

    def revoke(self, screen_id: int) -> None:
        """Disable the account and kick the live session at once."""
        site = self._site_of(screen_id)
        accounts = self._accounts_for(site)
        try:
            accounts.revoke_screen(screen_wire_id(screen_id))
        except AccountNotFound:
            pass  # never enrolled: nothing can log in
        except AccountError:
            self._missed(site)
            raise

    def _missed(self, site: str | None) -> None:
        """A regional broker did not take a change (it went away): the jobs reconcile it until it does."""
        name = self.region_of(site)
        if name is not None:
            self._unsynced.add(name)

    def reconcile(self, session: Session, *, only: Collection[str | None] | None = None) -> tuple[int, int]:
        """Start-up: revoked screens are disabled on their broker, enrolled ones get their DB groups.

        only: just these brokers (region names, None for the central one), as the jobs do for a regional
        broker that missed a change while it was unreachable.
        """
        self._need()
        screens = session.exec(select(Screen)).all()
        slugs = dict(session.exec(select(Site.id, Site.slug)).all()) if self._site_region else {}
        by_broker: dict[str | None, list[Screen]] = {}
        for screen in screens:
            by_broker.setdefault(self.region_of(slugs.get(screen.site_id)), []).append(screen)
        revoked = synced = 0
        for region in self._site_region.values():
            by_broker.setdefault(region, [])  # a region with no screen yet still counts as reconciled
        for name, members in by_broker.items():
            if only is not None and name not in only:
                continue
            try:
                accounts = self._accounts_for(slugs.get(members[0].site_id)) if members else (
                    self._regional(name) if name is not None else self._need()[0])
                r, y = _reconcile_on(accounts, members)
            except (BrokerUnavailable, AccountError) as exc:  # a region: the jobs try its broker again
                if name is None:
                    raise
                self._unsynced.add(name)
                log.error("broker %s not reconciled: %s", name or "central", exc)
                continue
            if name is not None:
                self._unsynced.discard(name)
            revoked, synced = revoked + r, synced + y
            if r or y:
                log.warning("broker %s reconciled with the database: %d revoked, %d regrouped",
                            name or "central", r, y)
        return revoked, synced

    # -- reports from screens (run on the hub's network thread)

    def _handlers(self) -> ReportHandlers:
        return ReportHandlers(on_status=self._on_status, on_heartbeat=self._on_heartbeat,
                              on_playlog=self._on_playlog, on_alert_ack=self._on_alert_ack,
                              on_screenshot=self._on_screenshot)

    def _report(self, wire_id: str, body: ReportBody, received_at: datetime) -> None:
        """Queue a report for the writer: the hub's network thread never waits for the database."""
        self.reports.submit(Report(wire_id, parse_screen_wire_id(wire_id), body, received_at))

    def _write(self, what: str, wire_id: str, fn: Callable[[Session, int], object]) -> object:
        screen_id = parse_screen_wire_id(wire_id)
        with self._sessions() as session:
            try:
                result = fn(session, screen_id)
                session.commit()
                return result
            except telemetry.UnknownScreen:
                session.rollback()
                raise ProtocolError(f"{what} from unknown screen {wire_id!r}") from None
            except SignageError as exc:
                session.rollback()
                raise ProtocolError(f"{what} from screen {wire_id!r} refused: {exc.message}") from None

    def _on_status(self, wire_id: str, status: Status, received_at: datetime) -> None:
        self._report(wire_id, status, received_at)

    def _on_heartbeat(self, wire_id: str, beat: Heartbeat, received_at: datetime) -> None:
        self._report(wire_id, beat, received_at)

    def _on_playlog(self, wire_id: str, batch: PlayLogBatch, received_at: datetime) -> list[str]:
        self._report(wire_id, batch, received_at)
        return []  # acknowledged by the writer once its batch is committed

    def _on_alert_ack(self, wire_id: str, ack: AlertAck, received_at: datetime) -> None:
        self._report(wire_id, ack, received_at)

    def _ack_playlog(self, wire_id: str, record_ids: list[str]) -> None:
        hub = self.hub
        if hub is not None:
            hub.ack_playlog(wire_id, record_ids)

    def _on_screenshot(self, wire_id: str, header: ScreenshotHeader, image: bytes, received_at: datetime) -> None:
        """Hand the picture to the screenshot worker: decoding must not hold up the broker-message thread."""
        if not self._screenshot_slots.acquire(blocking=False):
            raise ProtocolError(f"screenshot from screen {wire_id!r} dropped: {SCREENSHOT_BACKLOG} already waiting")
        try:
            self._screenshots.submit(self._store_screenshot, wire_id, header, image, received_at)
        except RuntimeError:  # shutting down
            self._screenshot_slots.release()

    def _store_screenshot(self, wire_id: str, header: ScreenshotHeader, image: bytes, received_at: datetime) -> None:
        try:
            self._write("screenshot", wire_id, lambda s, sid: telemetry.record_screenshot(
                s, screen_id=sid, header=header, image=image, received_at=received_at,
                root=self.settings.screenshots_dir))
        except ProtocolError as exc:
            log.warning("%s", exc)
        except Exception:  # the worker must outlive one bad picture
            log.exception("storing a screenshot from screen %r failed", wire_id)
        finally:
            self._screenshot_slots.release()

    # -- jobs

    def run_jobs_once(self) -> tuple[list[int], list[int]]:
        """Mark quiet screens offline and clear expired alerts; returns (screens, alerts) affected."""
        now = self._clock()
        with self._sessions() as session:
            quiet = telemetry.mark_missed(session, now=now,
                                          interval=timedelta(seconds=self.settings.heartbeat_interval_s),
                                          missed=self.settings.heartbeats_missed_offline)
            expired = alerts.clear_expired(session, publisher=self, now=now) if self.hub else []
            session.commit()
        if self._unsynced and self.hub is not None:
            # A revocation must not wait for a restart because the screen's regional broker was away.
            with self._sessions() as session:
                # Only reads: broker calls may wait seconds, and must not hold SQLite's write lock meanwhile.
                session.connection(execution_options={READ_MOSTLY: True})
                self.reconcile(session, only=set(self._unsynced))
        return quiet, expired

    def _run_jobs(self) -> None:
        """The owner's jobs; a process without the MQTT side retries the lock at its own pace instead."""
        while not self._stop.wait(min(self.settings.heartbeat_interval_s, 5) if self.owner
                                  else self.settings.transport_takeover_interval_s):
            try:
                self._keep_or_take_ownership()
            except Exception:  # the broker or database hiccuped: the next round tries again
                log.exception("could not settle who runs the MQTT side")
                continue
            if not self.owner:
                continue
            try:
                self.run_jobs_once()
            except Exception:  # a failing round must not end the job thread
                log.exception("transport jobs failed")


def queue_newest(queue: dict[str, tuple[int, bytes] | None], screen_ids: Iterable[str | int],
                 envelopes: Mapping[str, tuple[int, bytes]]) -> None:
    """Add screens to the publisher's queue, keeping per screen the newest known version.

    Listeners of two commits may run in either order, so a lower version never replaces a higher one;
    a screen announced without an envelope is read from the database, which always has the newest.
    """
    for screen_id in map(str, screen_ids):
        signed = envelopes.get(screen_id)
        if screen_id not in queue:
            queue[screen_id] = signed
            continue
        held = queue[screen_id]
        if held is None or signed is None:
            queue[screen_id] = None
        elif signed[0] > held[0]:
            queue[screen_id] = signed


def _reconcile_on(accounts: DynsecAccounts, screens: Sequence[Screen]) -> tuple[int, int]:
    """One broker's accounts made to agree with the database for the screens that use that broker."""
    on_broker = set(accounts.list_screens())
    revoked = synced = 0
    # Accounts made before the key-chain topic existed get its ACL (a no-op once they have it).
    enrolled = [w for w in (screen_wire_id(saved_id(s)) for s in screens if s.enrolment == Enrolment.ENROLLED)
                if w in on_broker]
    if enrolled and accounts.grant_key_chain(enrolled):
        log.warning("granted the key hand-over chain to screens enrolled before it existed")
    if enrolled and (bound := accounts.bind_client_ids(enrolled)):
        log.warning("bound %d screen accounts made before client ids were bound to their own client id", bound)
    for screen in screens:
        wire = screen_wire_id(saved_id(screen))
        if wire not in on_broker:
            continue
        if screen.enrolment == Enrolment.REVOKED:
            if accounts.is_enabled(wire):
                accounts.revoke_screen(wire)
                revoked += 1
        elif screen.enrolment == Enrolment.ENROLLED:
            wanted = screen_alert_groups(saved_id(screen), [saved_id(g) for g in screen.groups])
            if accounts.screen_groups(wire) != wanted:
                accounts.set_screen_groups(wire, wanted)
                synced += 1
    return revoked, synced


def _public_host(bind_host: str) -> str:
    """The host players are told when no public URL is set: this machine's name, unless the
    broker listens on loopback only, where the name (Debian maps it to 127.0.1.1) would not reach it."""
    try:
        if ipaddress.ip_address(bind_host).is_loopback:
            return f"[{bind_host}]" if ":" in bind_host else bind_host
    except ValueError:
        if bind_host == "localhost":
            return bind_host
    return socket.getfqdn() or "localhost"
