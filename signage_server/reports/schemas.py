"""JSON shapes of the report figures: minutes rounded to 0.01, times ISO 8601 UTC, dates local."""

from __future__ import annotations

from typing import Any

from signage_server.reports.calendar import DueReport, Period
from signage_server.reports.service import Airtime, AirtimeReport, Availability, SlideRun


def period_json(p: Period) -> dict[str, str]:
    return {"from": p.start.isoformat(), "to": p.end.isoformat()}


def _rows(rows: list[Airtime]) -> list[dict[str, Any]]:
    return [{"key": a.key, "label": a.label, "plays": a.plays, "minutes": a.minutes} for a in rows]


def _language_rows(rows: list[Airtime], totals: dict[str, float]) -> list[dict[str, Any]]:
    """Language x screen/site rows; share_percent is of that screen's (site's) own minutes on screen."""
    out = []
    for a in rows:
        whole = totals.get(a.key.rsplit(":", 1)[0], 0.0)
        out.append({"key": a.key, "label": a.label, "language": a.language, "plays": a.plays, "minutes": a.minutes,
                    "share_percent": round(100 * a.seconds / whole, 1) if whole else None})
    return out


def airtime_json(a: AirtimeReport) -> dict[str, Any]:
    return {"period": period_json(a.period), "plays": a.plays, "minutes": a.minutes,
            "skew_corrected": a.skew_corrected, "by_screen": _rows(a.by_screen), "by_site": _rows(a.by_site),
            "by_playlist": _rows(a.by_playlist), "by_slide": _rows(a.by_slide),
            "by_language": _rows(a.by_language),
            "by_screen_language": _language_rows(a.by_screen_language, {r.key: r.seconds for r in a.by_screen}),
            "by_site_language": _language_rows(a.by_site_language, {r.key: r.seconds for r in a.by_site})}


def availability_json(rows: list[Availability]) -> list[dict[str, Any]]:
    return [{"screen_id": r.screen_id, "screen": r.screen, "site": r.site,
             "scheduled_hours": round(r.scheduled_s / 3600, 4), "online_hours": round(r.online_s / 3600, 4),
             "available_hours": round(r.available_s / 3600, 4), "percent": r.percent,
             "outages": [{"kind": o.kind, "start": o.start.isoformat(), "end": o.end.isoformat(),
                          "minutes": o.minutes} for o in r.outages]} for r in rows]


def due_json(d: DueReport) -> dict[str, Any]:
    return {"kind": d.kind, "year": d.year, "deadline": d.deadline.isoformat(), "days_left": d.days_left,
            "show_banner": d.show_banner, "period": period_json(d.period)}


def runs_json(rows: list[SlideRun]) -> list[dict[str, Any]]:
    return [{"screen_id": r.screen_id, "screen": r.screen, "site": r.site, "day": r.day.isoformat(),
             "plays": r.plays, "minutes": r.minutes, "first": r.first.isoformat(), "last": r.last.isoformat(),
             "languages": r.languages} for r in rows]
