"""What belongs on screen at an instant, decided from the inputs alone: identify card, alert, waiting, off or an item."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from signage_core.manifest import ManifestBody, NowPlaying, is_screen_on, now_playing
from signage_core.protocol import AlertBody
from signage_core.schedule import from_local, to_local

NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Choice:
    """The decision; the agent turns it into a scene. A new `identity` starts a new item (and play record)."""

    kind: Literal["identify", "alert", "waiting", "off", "item"]
    identity: tuple[object, ...]
    boundaries: tuple[datetime, ...]  # when the decision may change
    alert: AlertBody | None = None
    playing: NowPlaying | None = None
    started_at: datetime | None = None  # an item's start, whole milliseconds

    @property
    def alert_id(self) -> str | None:
        return self.alert.alert_id if self.alert is not None else None

    @property
    def slide_id(self) -> str | None:
        return self.playing.slide.id if self.playing is not None else None

    @property
    def playlist_id(self) -> str | None:
        return self.playing.playlist_id if self.playing is not None else None


def choose(manifest: ManifestBody | None, alerts: Iterable[AlertBody], identify_until: datetime | None,
           now: datetime) -> Choice:
    """Identify card over alerts over the manifest; the newest alert wins; off-hours blank the screen."""
    if identify_until is not None and now < identify_until:
        return Choice("identify", ("identify", identify_until), (identify_until,))
    alert = max(alerts, key=lambda body: body.version, default=None)
    if alert is not None:
        return Choice("alert", ("alert", alert.alert_id, alert.version), (alert.expires_at,), alert=alert)
    if manifest is None:
        return Choice("waiting", ("waiting",), ())
    on_off = next_on_off(manifest, now)
    if not is_screen_on(manifest.layout, now):
        return Choice("off", ("off",), (on_off,))
    np = now_playing(manifest, now)
    boundaries = [on_off, np.until]
    if now < manifest.horizon_end:
        boundaries.append(manifest.horizon_end)
    # now_playing keeps the sub-millisecond part of `now`; the item's real start is whole ms.
    started = np.started_at.replace(microsecond=np.started_at.microsecond // 1000 * 1000)
    identity = ("item", manifest.version, np.slide.id, started, np.position)
    return Choice("item", identity, tuple(boundaries), playing=np, started_at=started)


def next_on_off(manifest: ManifestBody, now: datetime) -> datetime:
    """The next local instant the screen switches on or off (never, for always-on screens)."""
    window = manifest.layout.on_hours
    if window is None:
        return NEVER
    local = to_local(now)
    candidates = []
    for days in (0, 1):
        day = local.date() + timedelta(days=days)
        for moment in (window.start, window.end):
            at = from_local(datetime.combine(day, moment))
            if at > now:
                candidates.append(at)
    return min(candidates)
