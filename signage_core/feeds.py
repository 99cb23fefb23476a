"""Data-feed values (temperature, exchange rates) as small signed messages, and the strip's widget texts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from signage_core.lunar import solar_to_lunar
from signage_core.schedule import to_local
from signage_core.signing import (
    DEFAULT_CLOCK_SKEW,
    Envelope,
    EnvelopeKind,
    SigningKey,
    TrustStore,
    body_as,
    sign_envelope,
    verify_envelope,
)
from signage_core.zones import Widget, WidgetSpec

FeedKind = Literal["temperature", "rates"]
# The currencies a border-gate strip shows, in this order, each as VND per one unit.
RATE_CURRENCIES = ("USD", "KHR")
WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


class Reading(BaseModel):
    """One feed's last value and when it was observed at its source (or fetched, when the source says not)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FeedKind
    observed_at: AwareDatetime
    # temperature: {"c": 31.5}; rates: {"USD": 25430.0, "KHR": 6.3} (VND per unit).
    values: dict[str, float] = Field(min_length=1, max_length=16)

    @field_validator("values")
    @classmethod
    def _finite(cls, value: dict[str, float]) -> dict[str, float]:
        for key, number in value.items():
            if not math.isfinite(number):
                raise ValueError(f"feed value {key} is not a finite number")
        return value


class FeedBody(BaseModel):
    """Every feed reading a screen's strip uses, signed for that screen; a newer message replaces it whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    screen_id: str = Field(min_length=1)
    version: int = Field(ge=1)  # the server's clock in milliseconds at issue: a replay is never newer
    issued_at: AwareDatetime
    expires_at: AwareDatetime
    readings: dict[str, Reading] = Field(max_length=16)


def sign_feed(body: FeedBody, key: SigningKey) -> Envelope:
    return sign_envelope(EnvelopeKind.FEED, body, key)


def verify_feed(raw: bytes | str | Envelope, *, trust: TrustStore, screen_id: str, last_version: int | None,
                now: datetime, max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW) -> FeedBody:
    """Player side: the pinned key, this screen, a newer reading, not expired."""
    verified = verify_envelope(raw, trust=trust, expected_kind=EnvelopeKind.FEED, screen_id=screen_id,
                               last_version=last_version, now=now, max_clock_skew=max_clock_skew)
    return body_as(verified, FeedBody)


def fresh(reading: Reading | None, max_age_s: int, now: datetime) -> bool:
    """A value is shown only while younger than its widget's limit; a reading from the future is not trusted."""
    if reading is None:
        return False
    age = (now - reading.observed_at).total_seconds()
    return -DEFAULT_CLOCK_SKEW.total_seconds() <= age < max_age_s


def vi_number(value: float, decimals: int = 0) -> str:
    """Vietnamese digits: '.' between thousands, ',' before decimals (25.430; 6,3)."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


def reading_texts(kind: str, values: Mapping[str, float]) -> list[str]:
    """How the strip prints a feed widget's value: "31 °C"; "USD 25.430 ₫", "KHR 6,3 ₫" (the server's pages too)."""
    if kind == Widget.TEMPERATURE:
        return [f"{vi_number(values['c'])} °C"] if "c" in values else []
    if kind == Widget.RATES:
        return [f"{cur} {vi_number(values[cur], 0 if values[cur] >= 100 else 1)} ₫"
                for cur in RATE_CURRENCIES if cur in values]
    return []


def widget_texts(widgets: Sequence[WidgetSpec], now: datetime,
                 readings: Mapping[str, Reading]) -> list[str]:
    """What the strip says at `now`, in widget order; a feed widget without a fresh value says nothing."""
    local = to_local(now)
    out: list[str] = []
    for widget in widgets:
        if widget.kind is Widget.CLOCK:
            out.append(local.strftime("%H:%M"))
        elif widget.kind is Widget.SOLAR_DATE:
            out.append(f"{WEEKDAYS_VI[local.weekday()]} {local:%d/%m/%Y}")
        elif widget.kind is Widget.LUNAR_DATE:
            lunar = solar_to_lunar(local.date())
            out.append(f"Âm lịch {lunar.day:02d}/{lunar.month:02d}" + (" nhuận" if lunar.leap else ""))
        else:
            reading = readings.get(widget.feed or "")
            if not fresh(reading, widget.max_age_s, now) or reading is None:
                continue
            out.extend(reading_texts(widget.kind, reading.values))
    return out


def next_widget_change(widgets: Sequence[WidgetSpec], now: datetime,
                       readings: Mapping[str, Reading]) -> datetime | None:
    """When the strip's text may next change: the next minute (clock, dates) or a reading going stale."""
    times: list[datetime] = []
    if any(w.kind not in (Widget.TEMPERATURE, Widget.RATES) for w in widgets):
        times.append(now.replace(second=0, microsecond=0) + timedelta(minutes=1))
    for widget in widgets:
        reading = readings.get(widget.feed or "")
        if reading is not None and fresh(reading, widget.max_age_s, now):
            times.append(reading.observed_at + timedelta(seconds=widget.max_age_s))
    return min(times, default=None)
