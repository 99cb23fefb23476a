"""Zones from the server: a screen's template reaches its signed manifest; feeds are polled from a (local, fake)
HTTP source and signed per screen; alert templates say what they cover; ticker plays are stored as such."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlmodel import Session, select

from signage_core.feeds import verify_feed
from signage_core.languages import Language
from signage_core.protocol import PlayLogBatch
from signage_core.signing import SigningKey, TrustStore
from signage_server.alerts.models import AlertTemplate
from signage_server.alerts.service import _body
from signage_server.feeds import service as feeds
from signage_server.feeds import sources
from signage_server.manifests import service as manifests
from signage_server.screens.models import Enrolment, Screen
from signage_server.slides import service as slides
from signage_server.telemetry.models import PlayLogEntry
from signage_server.telemetry.service import record_playlog
from signage_server.users.models import User
from tests.server.conftest import Api
from tests.server.world import NOW

ZONES = {"template": "main_strip_ticker", "widgets": [{"kind": "clock"}, {"kind": "lunar_date"}]}


class FakeFeed:
    """A local HTTP JSON source: answers what the test sets, counts requests; nothing leaves the machine."""

    def __init__(self) -> None:
        self.answer: bytes = b"{}"
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(owner.answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/rates.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_feed() -> Iterator[FakeFeed]:
    feed = FakeFeed()
    yield feed
    feed.close()


@pytest.fixture
def live(session: Session, world: dict[str, int], users: dict[str, User], app: object) -> dict[str, int]:
    app.state.manifest_recompiler.install(session)  # type: ignore[attr-defined]
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    return world


def body_of(session: Session, screen_id: int) -> dict[str, object]:
    session.expire_all()
    record = manifests.latest_manifest(session, screen_id=screen_id)
    assert record is not None
    return json.loads(record.envelope)["body"]  # type: ignore[no-any-return]


def test_a_screens_zone_template_reaches_its_signed_manifest(session: Session, live: dict[str, int], api: Api) -> None:
    screen, playlist = live["screen"], live["playlist"]
    assert "zones" not in body_of(session, screen)
    r = api.as_("operator").patch(f"/api/v1/screens/{screen}", json={"zones": ZONES})
    assert r.status_code == 403, "only an admin sets up a screen"
    r = api.as_("admin").patch(f"/api/v1/screens/{screen}",
                              json={"zones": {**ZONES, "ticker_playlist_id": playlist}})
    assert r.status_code == 200, r.text
    assert r.json()["zones"]["template"] == "main_strip_ticker"
    body = body_of(session, screen)
    assert body["zones"] == {"template": "main_strip_ticker", "ticker_playlist": str(playlist),
                             "widgets": [{"kind": "clock", "feed": None, "max_age_s": 3600},
                                         {"kind": "lunar_date", "feed": None, "max_age_s": 3600}]}
    assert str(playlist) in body["playlists"]  # type: ignore[operator]
    r = api.as_("admin").patch(f"/api/v1/screens/{screen}", json={"zones": None})
    assert r.status_code == 200 and "zones" not in body_of(session, screen)


@pytest.mark.parametrize(("zones", "message"), [
    ({"template": "main_strip_ticker"}, "768×128 is too small for zone template main_strip_ticker"),
    ({"template": "main_ticker", "widgets": [{"kind": "clock"}]}, "main_ticker has no strip"),
    ({"template": "main_side", "widgets": [{"kind": "rates", "feed": "no-such-feed"}]}, "unknown data feed"),
    ({"template": "main_side", "widgets": [{"kind": "rates"}]}, "rates needs a feed"),
])
def test_bad_zones_are_refused_by_name(live: dict[str, int], api: Api, zones: dict[str, object], message: str) -> None:
    shrink = {"height_px": 128} if "128" in message else {}
    r = api.as_("admin").patch(f"/api/v1/screens/{live['screen']}", json={"zones": zones, **shrink})
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]


def test_a_feed_is_polled_kept_and_signed_for_the_screens_that_show_it(
        session: Session, live: dict[str, int], users: dict[str, User], fake_feed: FakeFeed) -> None:
    admin = users["admin"]
    feed = feeds.create_feed(session, actor=admin, name="ty-gia", kind="rates", url=fake_feed.url, period_s=600,
                             now=NOW)
    screen = session.get_one(Screen, live["screen"])
    screen.zones = {"template": "main_side", "widgets": [{"kind": "clock"},
                                                          {"kind": "rates", "feed": "ty-gia", "max_age_s": 86400}]}
    screen.enrolment = Enrolment.ENROLLED
    session.add(screen)
    session.flush()
    fake_feed.answer = json.dumps({"rates": {"USD": 25430, "KHR": 6.32, "EUR": 27000},
                                   "observed_at": "2026-03-02T01:00:00Z"}).encode()
    assert [f.name for f in feeds.due_feeds(session, now=NOW)] == ["ty-gia"]
    assert feeds.poll(session, feed=feed, now=NOW) is True
    assert fake_feed.requests == 1 and feed.values == {"USD": 25430, "KHR": 6.32} and feed.last_error is None
    assert feeds.due_feeds(session, now=NOW + timedelta(minutes=5)) == []  # its own 10-minute period

    key = SigningKey.generate()
    messages = feeds.feed_messages(session, key=key, now=NOW)
    assert [wire for wire, _ in messages] == [str(screen.id)]
    body = verify_feed(messages[0][1], trust=TrustStore.of(key.public_key), screen_id=str(screen.id),
                       last_version=None, now=NOW)
    reading = body.readings["ty-gia"]
    assert reading.values == {"USD": 25430.0, "KHR": 6.32}
    assert reading.observed_at == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

    # A broken answer keeps the last good reading (its age will hide it on screen) and says what was wrong.
    fake_feed.answer = '{"rates": {"USD": "hai lăm nghìn"}}'.encode()
    assert feeds.poll(session, feed=feed, now=NOW + timedelta(minutes=10)) is False
    assert feed.values == {"USD": 25430, "KHR": 6.32}
    assert feed.last_error is not None and "USD is not a number" in feed.last_error


@pytest.mark.parametrize(("raw", "message"), [
    (b"xml/>", "not JSON"), (b"[]", "not a JSON object"), (b'{"rates": {"EUR": 1}}', "none of the rates"),
    (b'{"temperature_c": 31}', "no rates object"),
])
def test_feed_answers_that_cannot_be_read_say_why(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sources.parse_reading("rates", raw, fetched_at=NOW)


def test_alert_templates_say_what_they_cover(session: Session) -> None:
    template = AlertTemplate(key="closure", name="x", captions={"vi": "Đóng"}, cover="main", created_at=NOW)
    from signage_server.alerts.models import Alert

    alert = Alert(id=1, template_id=1, version=3, captions={"vi": "Đóng"}, group_ids=[], screen_ids=[], topics=[],
                  issued_at=NOW, expires_at=NOW + timedelta(hours=1), launched_by=1, envelope="")
    body = _body(alert, action="show", version=3, issued_at=NOW, expires_at=alert.expires_at, screen_ids=[1],
                 cover=template.cover)
    assert body.cover == "main"


def test_ticker_plays_are_stored_with_their_zone(session: Session, live: dict[str, int]) -> None:
    screen = live["screen"]
    record = {"record_id": "t1", "slide_id": "5", "playlist_id": "9", "zone": "ticker", "manifest_version": "3",
              "started_at": "2026-03-02T01:00:00Z", "duration_ms": 12000, "frame_hash": "a" * 64,
              "segments": [{"language": "vi", "offset_ms": 0, "duration_ms": 12000}]}
    main = {**record, "record_id": "m1"}
    del main["zone"]
    batch = PlayLogBatch.model_validate({"screen_id": str(screen), "records": [record, main]})
    record_playlog(session, screen_id=screen, batch=batch, received_at=NOW)
    rows = {r.record_id: r.zone for r in session.exec(select(PlayLogEntry).where(PlayLogEntry.screen_id == screen))}
    assert rows["t1"] == "ticker" and rows["m1"] is None


def test_admins_add_feeds_over_the_api_and_bad_ones_are_named(live: dict[str, int], api: Api,
                                                               fake_feed: FakeFeed) -> None:
    feed = {"name": "thoi-tiet", "kind": "temperature", "url": fake_feed.url, "period_s": 600}
    assert api.as_("operator").post("/api/v1/feeds", json=feed).status_code == 403
    r = api.as_("admin").post("/api/v1/feeds", json=feed)
    assert r.status_code == 201, r.text
    assert r.json()["values"] is None and r.json()["last_error"] is None
    assert api.as_("admin").post("/api/v1/feeds", json=feed).status_code == 409
    bad = api.as_("admin").post("/api/v1/feeds", json={**feed, "name": "x", "url": "file:///etc/passwd"})
    broken = api.as_("admin").post("/api/v1/feeds", json={**feed, "name": "z", "url": "http://[x"})
    assert broken.status_code == 422 and "http or https" in broken.json()["error"]["message"]
    assert bad.status_code == 422 and "http or https" in bad.json()["error"]["message"]
    slow = api.as_("admin").post("/api/v1/feeds", json={**feed, "name": "y", "period_s": 5})
    assert slow.status_code == 422 and "between 60 and 86400" in slow.json()["error"]["message"]
    assert [f["name"] for f in api.as_("translator").get("/api/v1/feeds").json()] == ["thoi-tiet"]
    # A widget may now name it.
    r = api.as_("admin").patch(f"/api/v1/screens/{live['screen']}", json={"zones": {
        "template": "main_side", "widgets": [{"kind": "temperature", "feed": "thoi-tiet", "max_age_s": 1800}]}})
    assert r.status_code == 200, r.text


def test_captions_are_checked_and_previewed_at_the_main_zones_size(session: Session, live: dict[str, int]) -> None:
    from signage_server.screens.service import spec_of

    screen = session.get_one(Screen, live["screen"])
    assert (spec_of(screen).width, spec_of(screen).height) == (768, 384)
    screen.zones = {"template": "main_strip_ticker", "widgets": []}
    spec = spec_of(screen)
    assert (spec.width, spec.height, spec.layout) == (768, 281, "stacked")  # 384 - 46 strip - 57 ticker
    assert spec.languages == tuple(Language(code) for code in screen.languages)


def test_a_ticker_playlists_slides_count_the_ticker_screens_languages(
        session: Session, live: dict[str, int], api: Api, users: dict[str, User]) -> None:
    from signage_server.playlists import service as playlists
    from signage_server.slides.service import screens_showing

    news = playlists.create_playlist(session, actor=users["operator"], name="news",
                                     items=[playlists.ItemSpec(slide_id=live["free_slide"], duration_s=10)], now=NOW)
    session.commit()
    assert screens_showing(session, slide_id=live["free_slide"]) == []
    r = api.as_("admin").patch(f"/api/v1/screens/{live['screen']}",
                              json={"zones": {"template": "main_ticker", "ticker_playlist_id": news.id}})
    assert r.status_code == 200, r.text
    session.expire_all()
    assert [s.id for s in screens_showing(session, slide_id=live["free_slide"])] == [live["screen"]]


def test_seeded_alert_templates_say_what_they_cover(api: Api) -> None:
    r = api.as_("approver").get("/api/v1/alert-templates")
    assert r.status_code == 200
    covers = {t["key"]: t["cover"] for t in r.json()}
    assert covers == {"border-closure": "full", "disease-control": "main", "severe-weather": "main"}
