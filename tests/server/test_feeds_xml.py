"""A bank's exchange-rate sheet in XML (Vietcombank's ExrateList) as a rates feed: parsed without DTDs or
entities, thousands separators read, every refusal named. The source is a local fake: nothing leaves the machine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import Session

from signage_server.feeds import service as feeds
from signage_server.feeds import sources
from signage_server.feeds.sources import PROBLEMS, FeedProblem, parse_reading, problem_words
from signage_server.i18n import translations
from signage_server.users.models import User
from tests.server.test_zones import FakeFeed

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
SHEET = """<?xml version="1.0" encoding="utf-8"?>
<ExrateList>
  <DateTime>12/4/2026 3:10:00 PM</DateTime>
  <Exrate CurrencyCode="AUD" CurrencyName="AUSTRALIAN DOLLAR    " Buy="16,437.33" Transfer="16,603.36" Sell="17,135.93" />
  <Exrate CurrencyCode="KHR" CurrencyName="RIEL" Buy="-" Transfer="6.12" Sell="6.45" />
  <Exrate CurrencyCode="USD" CurrencyName="US DOLLAR" Buy="25,180.00" Transfer="25,210.00" Sell="25,550.00" />
  <Source>Joint Stock Commercial Bank for Foreign Trade of Vietnam - Vietcombank</Source>
</ExrateList>
"""


def sheet(*rows: str, when: str = "") -> bytes:
    stamp = f"<DateTime>{when}</DateTime>" if when else ""
    return f'<?xml version="1.0" encoding="utf-8"?><ExrateList>{stamp}{"".join(rows)}</ExrateList>'.encode()


@pytest.fixture
def source() -> Iterator[FakeFeed]:
    fake = FakeFeed()
    yield fake
    fake.close()


def test_a_banks_sheet_is_polled_from_a_local_source_as_selling_rates_at_its_own_time(
        session: Session, users: dict[str, User], source: FakeFeed) -> None:
    feed = feeds.create_feed(session, actor=users["admin"], name="vcb", kind="rates", url=source.url, period_s=600,
                             now=NOW)
    source.answer = b"\xef\xbb\xbf" + SHEET.encode()  # as served, with its byte-order mark
    assert feeds.poll(session, feed=feed, now=NOW) is True
    assert source.requests == 1 and feed.last_error is None
    assert feed.values == {"USD": 25550.0, "KHR": 6.45}  # the Sell column; AUD is not on the strip
    assert feed.observed_at == datetime(2026, 12, 4, 8, 10, tzinfo=UTC)  # 15:10 Vietnam time


@pytest.mark.parametrize(("text", "value"), [
    ("25,550.00", 25550.0), ("1,025,430.5", 1025430.5), ("25 550", 25550.0), ("25\u00a0550", 25550.0),
    ("6.45", 6.45), (" 25550 ", 25550.0),
])
def test_rates_are_read_with_their_thousands_separators(text: str, value: float) -> None:
    reading = parse_reading("rates", sheet(f'<Exrate CurrencyCode="USD" Sell="{text}"/>'), fetched_at=NOW)
    assert reading.values == {"USD": value} and reading.observed_at == NOW  # no DateTime: the fetch time


def test_a_currency_the_bank_does_not_sell_is_left_out() -> None:
    raw = sheet('<Exrate CurrencyCode="USD" Sell="-"/>', '<Exrate CurrencyCode="KHR" Sell="6.45"/>')
    assert parse_reading("rates", raw, fetched_at=NOW).values == {"KHR": 6.45}


LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
          + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"".join(b"&%c;" % (97 + i) for _ in range(10)))
                     for i in range(9))
          + b"]><ExrateList><Exrate CurrencyCode=\"USD\" Sell=\"&j;\"/></ExrateList>")


@pytest.mark.parametrize(("raw", "kind", "message"), [
    (LAUGHS, "rates", "declares a DTD or entities, which are refused"),
    (b'<!DOCTYPE ExrateList SYSTEM "file:///etc/passwd"><ExrateList/>', "rates", "declares a DTD"),
    (b'<ExrateList><Exrate CurrencyCode="USD" Sell="&ext;"/></ExrateList>', "rates", "not well-formed XML: undefined entity"),
    (b"<ExrateList><Exrate", "rates", "not well-formed XML"),
    (b"<rates><USD>25430</USD></rates>", "rates", "its root is 'rates', not ExrateList"),
    (sheet('<Exrate CurrencyCode="USD" Sell="1"/>', '<Exrate CurrencyCode="usd" Sell="2"/>'), "rates",
     "currency USD is listed twice"),
    (sheet('<Exrate CurrencyCode="USD" Sell="25.550,00"/>'), "rates", "rate USD is not a number: '25.550,00'"),
    (sheet('<Exrate CurrencyCode="USD" Sell="25,55,0"/>'), "rates", "rate USD is not a number"),
    (sheet('<Exrate CurrencyCode="USD" Sell="hai lăm"/>'), "rates", "rate USD is not a number: 'hai lăm'"),
    (sheet('<Exrate CurrencyCode="AUD" Sell="17,135.93"/>'), "rates", "none of the rates USD, KHR"),
    (sheet('<Exrate CurrencyCode="USD" Sell="-"/>'), "rates", "none of the rates USD, KHR"),
    (sheet('<Exrate CurrencyCode="USD" Sell="1"/>', when="hôm nay"), "rates",
     "the rate sheet's DateTime 'hôm nay' is not a date and time"),
    (SHEET.encode(), "temperature", "so the feed's kind must be rates"),
])
def test_sheets_that_cannot_be_read_say_why(raw: bytes, kind: str, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(FeedProblem, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_reading(kind, raw, fetched_at=NOW)
    assert time.perf_counter() - started < 1  # refused before anything expands


def test_a_refused_sheet_keeps_the_last_good_reading_and_the_page_says_why_in_vietnamese(
        session: Session, users: dict[str, User], source: FakeFeed) -> None:
    feed = feeds.create_feed(session, actor=users["admin"], name="vcb", kind="rates", url=source.url, period_s=600,
                             now=NOW)
    source.answer = SHEET.encode()
    feeds.poll(session, feed=feed, now=NOW)
    source.answer = LAUGHS
    assert feeds.poll(session, feed=feed, now=NOW) is False
    assert feed.values == {"USD": 25550.0, "KHR": 6.45} and feed.last_error is not None
    vi = translations("vi").gettext
    assert problem_words(feed.last_error, vi) == "dữ liệu nguồn trả về khai báo DTD hoặc thực thể, không được chấp nhận"


def test_every_reading_problem_has_a_vietnamese_sentence_with_its_values() -> None:
    vi = translations("vi").gettext
    assert not [t for t in PROBLEMS if vi(t) == t]
    said = problem_words(str(FeedProblem("rate %(currency)s is not a number: %(value)s", currency="USD",
                                         value="'x'")), vi)
    assert said == "tỷ giá USD không phải là số: 'x'"
    assert problem_words("something new went wrong", vi) == "something new went wrong"  # shown as it is
    assert sources.RATE_COLUMN == "Sell"
