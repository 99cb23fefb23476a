"""Reading a data feed's source: fetch it over HTTP and turn its answer into a reading, or say what is wrong."""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from xml.parsers import expat

from pydantic import ValidationError

from signage_core.feeds import RATE_CURRENCIES, Reading
from signage_core.schedule import TIMEZONE

MAX_BODY_BYTES = 64 * 1024  # a temperature or a rate table is a few kilobytes
FETCH_TIMEOUT_S = 10.0
Fetch = Callable[[str], bytes]


class FeedProblem(ValueError):
    """Why a source could not be read: an English sentence for the API and logs, its template for the pages."""

    def __init__(self, template: str, **params: object) -> None:
        self.template, self.params = template, params
        super().__init__(template % params if params else template)


# Every template a FeedProblem is raised with, so that a stored last_error can be shown in the page's language.
PROBLEMS = (
    "feed URL %(url)s is not http or https",
    "the source did not answer: %(reason)s",
    "feed answer is over %(limit)s bytes",
    "feed answer is not JSON: %(reason)s",
    "feed answer is not a JSON object",
    "feed answer has no temperature_c",
    "feed answer has no rates object",
    "feed answer has none of the rates %(currencies)s",
    "unknown feed kind %(kind)s",
    "feed value %(name)s is not a number: %(value)s",
    "feed answer is not valid: %(reason)s",
    "an XML answer is read as a bank's exchange-rate sheet (ExrateList), so the feed's kind must be rates",
    "feed answer is not well-formed XML: %(reason)s",
    "feed answer declares a DTD or entities, which are refused",
    "feed answer is XML but not an exchange-rate sheet: its root is %(root)s, not ExrateList",
    "currency %(currency)s is listed twice in the rate sheet",
    "rate %(currency)s is not a number: %(value)s",
    "the rate sheet's DateTime %(value)s is not a date and time",
)


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"%\((\w+)\)s", template)
    body = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.*)" for i, p in enumerate(parts))
    return re.compile(body + r"\Z", re.DOTALL)


_PATTERNS = tuple((_pattern(t), t) for t in PROBLEMS)


def problem_words(text: str, gettext: Callable[[str], str]) -> str:
    """A stored last_error in the page's language; a sentence we do not know is shown as it is."""
    for pattern, template in _PATTERNS:
        found = pattern.match(text)
        if found:
            return gettext(template) % found.groupdict()
    return text


def fetch_http(url: str) -> bytes:
    """GET the source, refusing anything but http(s) and bodies past the size limit."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise FeedProblem("feed URL %(url)s is not http or https", url=repr(url))
    request = urllib.request.Request(url, headers={"Accept": "application/json, application/xml, text/xml"})  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 - scheme checked
            data: bytes = response.read(MAX_BODY_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise FeedProblem("the source did not answer: %(reason)s", reason=str(getattr(exc, "reason", exc))) from None
    if len(data) > MAX_BODY_BYTES:
        raise FeedProblem("feed answer is over %(limit)s bytes", limit=MAX_BODY_BYTES)
    return data


def parse_reading(kind: str, raw: bytes, *, fetched_at: datetime) -> Reading:
    """The source's answer as a reading, naming what is missing or wrong.

    JSON: temperature {"temperature_c": 31.4, "observed_at": "...Z"?}; rates {"rates": {"USD": 25430, "KHR": 6.3},
    "observed_at": ...?} in VND per unit. XML: a bank's rate sheet (`parse_rate_sheet`). Without a time of
    observation the fetch time is the reading's time.
    """
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        if kind != "rates":
            raise FeedProblem("an XML answer is read as a bank's exchange-rate sheet (ExrateList), so the feed's "
                              "kind must be rates")
        return parse_rate_sheet(raw, fetched_at=fetched_at)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedProblem("feed answer is not JSON: %(reason)s", reason=str(exc)) from None
    if not isinstance(data, dict):
        raise FeedProblem("feed answer is not a JSON object")
    values: dict[str, Any]
    if kind == "temperature":
        if "temperature_c" not in data:
            raise FeedProblem("feed answer has no temperature_c")
        values = {"c": data["temperature_c"]}
    elif kind == "rates":
        rates = data.get("rates")
        if not isinstance(rates, dict):
            raise FeedProblem("feed answer has no rates object")
        values = {cur: rates[cur] for cur in RATE_CURRENCIES if cur in rates}
        if not values:
            raise FeedProblem("feed answer has none of the rates %(currencies)s", currencies=", ".join(RATE_CURRENCIES))
    else:
        raise FeedProblem("unknown feed kind %(kind)s", kind=repr(kind))
    return _reading(kind, values, data.get("observed_at") or fetched_at)


def _reading(kind: str, values: dict[str, Any], observed_at: object) -> Reading:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < -100:
            raise FeedProblem("feed value %(name)s is not a number: %(value)s", name=name, value=repr(value))
    try:
        return Reading.model_validate({"kind": kind, "observed_at": observed_at, "values": values})
    except ValidationError as exc:
        raise FeedProblem("feed answer is not valid: %(reason)s", reason=exc.errors()[0]["msg"]) from None


# The column of a bank's sheet the strip shows: what a traveller pays the bank for one unit of the currency.
RATE_COLUMN = "Sell"
SHEET_ROOT, SHEET_ROW, SHEET_TIME = "ExrateList", "Exrate", "DateTime"
# Vietcombank writes its sheet's time as US-style local time: "12/4/2026 3:10:00 PM".
SHEET_TIME_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def sheet_number(currency: str, text: str) -> float | None:
    """A rate as banks print it: ',' between thousands, '.' before decimals ("25,430.00"); "-" or empty: none."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if cleaned in ("", "-", "—"):
        return None
    if not _GROUPED.fullmatch(cleaned):
        raise FeedProblem("rate %(currency)s is not a number: %(value)s", currency=currency, value=repr(text))
    return float(cleaned.replace(",", ""))


def _sheet_time(text: str) -> datetime:
    for fmt in SHEET_TIME_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=TIMEZONE).astimezone(UTC)
        except ValueError:
            continue
    raise FeedProblem("the rate sheet's DateTime %(value)s is not a date and time", value=repr(text.strip()))


class _Sheet:
    """Collects an ExrateList with expat, refusing any DTD so that no entity can expand or reach outside."""

    def __init__(self) -> None:
        self.root: str | None = None
        self.rows: dict[str, str] = {}
        self.time: list[str] | None = None
        self.time_text = ""

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.root is None:
            self.root = name
            if name != SHEET_ROOT:
                raise FeedProblem("feed answer is XML but not an exchange-rate sheet: its root is %(root)s, not "
                                  "ExrateList", root=repr(name))
        if name == SHEET_ROW:
            code = attrs.get("CurrencyCode", "").strip().upper()
            if code in self.rows:
                raise FeedProblem("currency %(currency)s is listed twice in the rate sheet", currency=code)
            self.rows[code] = attrs.get(RATE_COLUMN, "")
        elif name == SHEET_TIME:
            self.time = []

    def end(self, name: str) -> None:
        if name == SHEET_TIME and self.time is not None:
            self.time_text, self.time = "".join(self.time), None

    def text(self, data: str) -> None:
        if self.time is not None:
            self.time.append(data)


def _refuse_dtd(*_args: object) -> None:
    raise FeedProblem("feed answer declares a DTD or entities, which are refused")


def _refuse_external(_context: str, _base: str | None, _system_id: str | None, _public_id: str | None) -> int:
    raise FeedProblem("feed answer declares a DTD or entities, which are refused")


def parse_rate_sheet(raw: bytes, *, fetched_at: datetime) -> Reading:
    """A bank's exchange-rate XML (Vietcombank's ExrateList: <Exrate CurrencyCode="USD" Sell="25,430.00"/>).

    The strip shows RATE_COLUMN in VND per unit for RATE_CURRENCIES; a currency the bank does not quote
    ("-") is left out. The sheet's <DateTime> (Vietnam time) is the reading's time when present.
    """
    sheet = _Sheet()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = sheet.start
    parser.EndElementHandler = sheet.end
    parser.CharacterDataHandler = sheet.text
    try:
        parser.Parse(raw, True)
    except expat.ExpatError as exc:
        raise FeedProblem("feed answer is not well-formed XML: %(reason)s", reason=str(exc)) from None
    values = {cur: number for cur in RATE_CURRENCIES if cur in sheet.rows
              for number in [sheet_number(cur, sheet.rows[cur])] if number is not None}
    if not values:
        raise FeedProblem("feed answer has none of the rates %(currencies)s", currencies=", ".join(RATE_CURRENCIES))
    return _reading("rates", values, _sheet_time(sheet.time_text) if sheet.time_text.strip() else fetched_at)
