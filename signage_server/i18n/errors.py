"""The one mapping layer from errors to sentences a person reads, in the page's language.

Every page turns a refusal into text here (through ``web.error_text``), never by printing the English
message the JSON API carries:

- a domain error raised with ``params`` is translated as its template, then filled in;
- a validation error (pydantic: the schedule rule model, FastAPI's form parsing) is translated field by
  field from its error *type* and the field's label, e.g. ``rule.windows.0.start`` + ``time_parsing``
  becomes "Khung giờ 1, giờ bắt đầu: giờ không hợp lệ…";
- a message no catalog knows yet is shown as raised and logged, so a translator can add it; the browser
  test tests/e2e/test_plain_vi_browser.py walks the forms and fails on English words.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from signage_server.errors import SignageError
from signage_server.i18n import translations

log = logging.getLogger(__name__)
Gettext = Callable[[str], str]

# A field's name (the last named part of its path) -> its label as the forms show it (catalog msgids).
FIELD_LABELS: dict[str, str] = {
    "name": "Name", "display_name": "Display name", "username": "Username", "password": "Password",
    "playlist_id": "Playlist", "priority": "Priority", "start_date": "From date", "end_date": "To date",
    "weekdays": "Weekdays", "windows": "Time windows", "dates": "Dates every year", "start": "start time",
    "end": "end time", "day": "day", "month": "month", "kind": "calendar", "screen_ids": "Screens",
    "group_ids": "Groups", "slug": "Short name (slug)", "width": "Width", "height": "Height",
    "on_time": "On at", "off_time": "Off at", "duration_s": "Duration", "languages": "Languages",
    "language": "Language", "text": "Text", "template": "Template", "minutes": "Minutes",
    "site_id": "Site", "role": "Role", "since": "From", "until": "To", "file": "File", "files": "File",
    "pitch_mm": "Pixel pitch", "timezone": "Time zone", "reason": "Reason",
    # Columns the audit log's change view names (stored rows' fields).
    "width_px": "Width (px)", "height_px": "Height (px)", "pixel_pitch_mm": "Pixel pitch (mm)",
    "orientation": "Orientation", "layout": "Layout", "enrolment": "Enrolment",
    "foreign_ratio": "Foreign text size relative to Vietnamese", "default_playlist_id": "Default playlist",
    "manifest_version": "Content version", "is_active": "Active", "approved_at": "Approved at",
    "approved_by": "Approved by", "asset_id": "Picture", "state": "State", "caption_id": "Caption",
    "slide_id": "Slide", "items": "Slides in order", "rule": "When it plays", "captions": "Text",
    "retired_at": "Retired at", "retired_by_id": "Retired by", "viewing_distance_m": "Viewing distance (m)",
    "rotation_dwell_s": "Least time per language when rotating (s)",
    "shown": "Show", "q": "Search",
    # Brightness plans (screens/brightness.py) and the sites' coordinates.
    "day_percent": "Day level (%)", "night_percent": "Night level (%)", "day_from": "Day level from",
    "night_from": "Night level from", "ramp_minutes": "Ramp (minutes to reach the new level)",
    "alert_percent": "Level during an urgent alert (%)", "offset_minutes": "Minutes after sunrise/sunset (negative: before)",
    "at": "Fixed time", "percent": "Level (%)", "latitude": "Latitude", "longitude": "Longitude",
    "brightness": "Brightness", "expires_at": "Expires at", "year": "Year", "format": "Format",
    "from": "From", "to": "To", "commissioned_at": "Commissioned on", "commissioned_on": "Commissioned on",
    "code_id": "Enrolment code", "address": "Network address", "agent_version": "Player version",
    "reenrolment": "Re-enrolment", "cover": "Alert covers (screens with zones)", "approved_by_id": "Approved by", "created_by_id": "Created by",
}
# Fields whose stored values are codes with a catalog name ("stacked" -> "xếp chồng"); free text never is.
CODED_FIELDS = frozenset({"orientation", "layout", "enrolment", "role", "state", "kind", "language", "cover"})

# Pydantic/FastAPI error type -> sentence (catalog msgid); %(field)s is the label, others come from ctx.
TYPE_MESSAGES: dict[str, str] = {
    "missing": "%(field)s is required.",
    "time_parsing": "%(field)s: not a valid time; write it like 06:00 (hours 0-23, minutes 0-59).",
    "time_type": "%(field)s: not a valid time; write it like 06:00 (hours 0-23, minutes 0-59).",
    "date_parsing": "%(field)s: not a valid date; write it like 2026-04-30.",
    "date_type": "%(field)s: not a valid date; write it like 2026-04-30.",
    "date_from_datetime_parsing": "%(field)s: not a valid date; write it like 2026-04-30.",
    "datetime_parsing": "%(field)s: not a valid date and time.",
    "datetime_from_date_parsing": "%(field)s: not a valid date and time.",
    "int_parsing": "%(field)s must be a whole number.",
    "int_type": "%(field)s must be a whole number.",
    "int_from_float": "%(field)s must be a whole number.",
    "float_parsing": "%(field)s must be a number.",
    "float_type": "%(field)s must be a number.",
    "greater_than_equal": "%(field)s must be at least %(ge)s.",
    "greater_than": "%(field)s must be more than %(gt)s.",
    "less_than_equal": "%(field)s must be at most %(le)s.",
    "less_than": "%(field)s must be less than %(lt)s.",
    "string_too_long": "%(field)s is too long (at most %(max_length)s characters).",
    "string_too_short": "%(field)s is too short (at least %(min_length)s characters).",
    "too_long": "%(field)s has too many entries (at most %(max_length)s).",
    "too_short": "%(field)s needs at least %(min_length)s entries.",
    "literal_error": "%(field)s: choose one of the offered values.",
    "enum": "%(field)s: choose one of the offered values.",
    "union_tag_invalid": "%(field)s: choose one of the offered values.",
    "bool_parsing": "%(field)s: choose yes or no.",
    "string_pattern_mismatch": "%(field)s is not in the expected form.",
}
GENERIC_FIELD = "%(field)s is not valid."
NOT_FOUND = "The chosen %(entity)s no longer exists; reload the page and choose again."
# NotFound's entity -> its name (catalog msgids).
ENTITY_LABELS: dict[str, str] = {
    "playlist": "playlist", "screen": "screen", "screen group": "screen group", "slide": "slide",
    "schedule": "schedule", "user": "user", "site": "site", "caption": "caption", "asset": "picture",
    "alert": "urgent alert", "alert template": "alert template", "data feed": "data feed",
}
GENERIC = "The value entered is not valid; check the form and try again."
_VALUE_ERROR_PREFIX = "Value error, "
# The shared models' own messages carry values (signage_core raises plain ValueErrors): each pattern
# names its values, and its template is the catalog msgid.
VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?P<day>\d+)/(?P<month>\d+) is not a calendar date$"), "%(day)s/%(month)s is not a calendar date"),
    (re.compile(r"^rule .*: end_date (?P<end>\S+) is before start_date (?P<start>\S+)$"),
     "end_date %(end)s is before start_date %(start)s"),
    (re.compile(r"^weekdays must be 0 \(Monday\) to 6 \(Sunday\), got (?P<bad>.+)$"),
     "weekdays must be 0 (Monday) to 6 (Sunday), got %(bad)s"),
)


def _translated(gettext: Gettext, locale: str, msgid: str) -> str | None:
    """The catalog's sentence for msgid, or None when this locale has none (English needs none)."""
    text = gettext(msgid)
    if text != msgid or locale == "en":
        return text
    return None


def field_label(path: str | Iterable[Any], gettext: Gettext) -> str:
    """'rule.windows.0.start' -> 'Time windows 1, start time' in the page's language."""
    parts = path.split(".") if isinstance(path, str) else [str(p) for p in path]
    if len(parts) > 1 and parts[0] == "rule":  # the schedule form shows the rule's fields as its own
        parts = parts[1:]
    words: list[str] = []
    for part in parts:
        if part.isdigit() and words:
            words[-1] = f"{words[-1]} {int(part) + 1}"
        elif part in FIELD_LABELS:
            words.append(gettext(FIELD_LABELS[part]))
    return ", ".join(words) if words else gettext("This field")


def _fill(template: str, values: Mapping[str, Any]) -> str:
    try:
        return template % dict(values)
    except (KeyError, ValueError, TypeError):
        return template


def validation_sentence(error: Mapping[str, Any], gettext: Gettext, locale: str) -> str:
    """One pydantic error ({type, loc or field, ctx, msg}) as a sentence in the page's language."""
    loc = error.get("loc")
    path: str | Iterable[Any] = loc if loc is not None else str(error.get("field") or "")
    if isinstance(path, (list, tuple)):
        path = [p for p in path if str(p) not in {"body", "query", "form", "path"}]
    label = field_label(path, gettext)
    ctx = dict(error.get("ctx") or {})
    kind = str(error.get("type") or "")
    if kind == "value_error":
        detail = str(ctx.get("error") or error.get("msg") or "").removeprefix(_VALUE_ERROR_PREFIX)
        said = _translated(gettext, locale, detail) if detail else None
        for pattern, template in VALUE_PATTERNS:
            found = pattern.match(detail)
            if said is None and found is not None:
                said = _fill(gettext(template), found.groupdict())
        if said is not None:
            return f"{label}: {said}"
    message = TYPE_MESSAGES.get(kind)
    if message is None:
        return _fill(gettext(GENERIC_FIELD), {"field": label})
    return _fill(gettext(message), {"field": label, **{k: v for k, v in ctx.items() if k != "error"}})


def describe(exc: SignageError, locale: str) -> str:
    """A domain error as the page shows it, never in another language than the page's."""
    gettext = translations(locale).gettext
    errors = exc.details.get("errors")
    if isinstance(errors, list) and errors and all(isinstance(e, dict) and "type" in e for e in errors):
        return " ".join(dict.fromkeys(validation_sentence(e, gettext, locale) for e in errors))
    if exc.code == "not_found" and "entity" in exc.details:
        entity = str(exc.details["entity"])
        what = gettext(ENTITY_LABELS[entity]) if entity in ENTITY_LABELS else gettext("item")
        return _fill(gettext(NOT_FOUND), {"entity": what})
    said = _translated(gettext, locale, exc.template)
    if said is not None:
        params = dict(exc.params)
        if "field" in params:  # a form field's name reads as its label
            params["field"] = field_label(str(params["field"]), gettext)
        return _fill(said, params) if params else said
    # Not in the catalog yet: the message as raised (logged, so a translator can add it). Hiding it behind a
    # generic sentence would take away the detail an approver needs (e.g. which character no font draws).
    log.warning("no %s translation for the error message %r", locale, exc.template)
    return exc.message


def describe_validation(errors: Iterable[Mapping[str, Any]], locale: str) -> dict[str, str]:
    """FastAPI's form-parsing errors as {field name: sentence}, for pages that mark fields."""
    gettext = translations(locale).gettext
    out: dict[str, str] = {}
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if str(p) not in {"body", "query", "form", "path"}]
        key = loc[0] if loc else "form"
        out.setdefault(key, validation_sentence(error, gettext, locale))
    return out
