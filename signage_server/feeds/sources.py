"""Reading a data feed's source: fetch it over HTTP and turn its answer into a reading, or say what is wrong."""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from signage_core.feeds import RATE_CURRENCIES, Reading

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
    """The source's JSON as a reading, naming what is missing or wrong.

    temperature: {"temperature_c": 31.4, "observed_at": "...Z"?}; rates: {"rates": {"USD": 25430, "KHR": 6.3},
    "observed_at": ...?} in VND per unit. Without observed_at the fetch time is the reading's time.
    """
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
