"""A zoned screen on the player: main + strip + ticker in one frame, feed values that go stale, alerts that
cover the main zone or the whole screen, and the ticker's own proof of play."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from player_agent.agent import MANIFEST_FILE, Agent
from player_agent.state import StateStore
from signage_core.feeds import FeedBody, Reading, sign_feed, widget_texts
from signage_core.languages import Language
from signage_core.manifest import (
    LayoutKind,
    LayoutSpec,
    ManifestBody,
    Playlist,
    PlaylistItem,
    Slide,
    build_manifest,
    horizon_window,
)
from signage_core.render import TickerStrip, render_slide
from signage_core.render.compose import compose, draw_strip
from signage_core.schedule import TIMEZONE, from_local
from signage_core.screen import alert_spec, zoned_specs
from signage_core.zones import Widget, WidgetSpec, ZonesSpec, ZoneTemplate
from tests.player.agent_world import (
    CAPTIONS,
    SERVER_KEY,
    Clock,
    Frames,
    alert,
    enrol_state,
    now_utc,
    settings_for,
    signed,
)

NEWS = {Language.VI: "Tin nhanh: cửa khẩu mở cửa đến 22 giờ", Language.EN: "Gate open until 22:00",
        Language.KM: "ច្រកបើកដល់ម៉ោង២២"}
WIDGETS = (WidgetSpec(kind=Widget.CLOCK), WidgetSpec(kind=Widget.LUNAR_DATE),
           WidgetSpec(kind=Widget.TEMPERATURE, feed="thoi-tiet", max_age_s=600))
ZONES = ZonesSpec(template=ZoneTemplate.MAIN_STRIP_TICKER, ticker_playlist="news", widgets=WIDGETS)
SIZE = (768, 384)
FPS, SPEED = 30, 120.0


def zoned_manifest(now: datetime, layout: LayoutKind = LayoutKind.STACKED) -> ManifestBody:
    start, end = horizon_window(now)
    slides = [Slide(id="s1", captions=dict(CAPTIONS)), Slide(id="n1", captions=dict(NEWS))]
    return build_manifest(
        screen_id="gate-1", version=1, issued_at=now, expires_at=now + timedelta(days=9),
        layout=LayoutSpec(width=SIZE[0], height=SIZE[1], layout=layout,
                          languages=(Language.VI, Language.EN, Language.KM)),
        rules=[], default_playlist="p",
        playlists=[Playlist(id="p", items=(PlaylistItem(slide_id="s1", duration_ms=3_600_000),)),
                   Playlist(id="news", items=(PlaylistItem(slide_id="n1", duration_ms=5_000),))],
        slides=slides, assets=[], horizon_start=start, horizon_end=end, zones=ZONES,
    )


@pytest.fixture
def world(tmp_path: Path) -> tuple[Agent, Clock, Frames, ManifestBody]:
    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1")
    day = (now_utc() + timedelta(days=1)).astimezone(TIMEZONE).date()
    clock = Clock(from_local(datetime.combine(day, time(9, 0))))
    body = zoned_manifest(now_utc())
    (state_dir / MANIFEST_FILE).write_bytes(signed(body))
    StateStore(state_dir / "state.json").accept_manifest(1)
    output = Frames()
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600, ticker_fps=FPS, ticker_speed_px_s=SPEED),
                  output, clock=clock)  # type: ignore[arg-type]
    yield agent, clock, output, body
    agent.close()


def expected(body: ManifestBody, now: datetime, readings: dict[str, Reading], ticker_px: int,
             main: Image.Image | None = None) -> Image.Image:
    """The frame the live preview's code draws for this instant."""
    assert body.zones is not None
    zoned = zoned_specs(body.layout, body.zones)
    assert zoned.rects.strip is not None and zoned.ticker is not None
    main = main or render_slide(zoned.main, CAPTIONS)
    strip = draw_strip(zoned.rects.strip, widget_texts(body.zones.widgets, now, readings), vertical_layout=False)
    ticker = TickerStrip(zoned.ticker, NEWS).frame(ticker_px)
    return compose(SIZE, zoned.rects, main, strip, ticker)


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None


def feed(now: datetime, observed: datetime, celsius: float) -> bytes:
    body = FeedBody(screen_id="gate-1", version=int(now.timestamp() * 1000), issued_at=now,
                    expires_at=now + timedelta(days=1),
                    readings={"thoi-tiet": Reading(kind="temperature", observed_at=observed, values={"c": celsius})})
    return sign_feed(body, SERVER_KEY).to_json()


def test_player_draws_main_strip_and_ticker_as_the_preview_does(world: tuple[Agent, Clock, Frames, ManifestBody]) -> None:
    agent, clock, output, body = world
    agent.tick()
    started = clock.at
    assert same(output.frames[-1], expected(body, clock.at, {}, 0))
    clock.at = started + timedelta(seconds=2)
    wake = agent.tick()
    assert same(output.frames[-1], expected(body, clock.at, {}, int(2 * SPEED)))
    assert wake <= clock.at + timedelta(seconds=1 / FPS)  # the ticker keeps its frame clock
    text = widget_texts(WIDGETS, clock.at, {})
    assert text[0] == "09:00" and text[1].startswith("Âm lịch ")


def test_feed_value_is_shown_while_fresh_and_hidden_once_stale(world: tuple[Agent, Clock, Frames, ManifestBody]) -> None:
    agent, clock, output, body = world
    start = clock.at
    observed = start - timedelta(minutes=5)
    agent._on_feed(feed(start, observed, 31.4))
    agent.tick()
    readings = dict(agent.readings)
    assert "31 °C" in widget_texts(WIDGETS, start, readings)
    assert same(output.frames[-1], expected(body, start, readings, 0))
    clock.at = observed + timedelta(seconds=600)  # exactly its 10-minute limit: hidden
    agent.tick()
    strip_rect = zoned_specs(body.layout, ZONES).rects.strip
    assert strip_rect is not None
    texts = widget_texts(WIDGETS, clock.at, readings)
    assert texts == widget_texts(WIDGETS[:2], clock.at, {})  # clock and lunar date only
    assert same(output.frames[-1].crop(strip_rect.box), draw_strip(strip_rect, texts, vertical_layout=False))


def test_an_older_feed_message_is_refused(world: tuple[Agent, Clock, Frames, ManifestBody]) -> None:
    agent, clock, _output, _body = world
    agent._on_feed(feed(clock.at, clock.at, 30.0))
    agent._on_feed(feed(clock.at - timedelta(seconds=1), clock.at, 45.0))  # a replay of an older message
    assert agent.readings["thoi-tiet"].values == {"c": 30.0}
    assert agent.last_error is not None and "stale_version" in agent.last_error


def test_an_alert_for_the_main_zone_leaves_strip_and_ticker_running(world: tuple[Agent, Clock, Frames, ManifestBody]) -> None:
    agent, clock, output, body = world
    agent._on_alert(alert(["gate-1"], "a1", 1, now=clock.at, ttl_s=300, cover="main"))
    agent.tick()
    zoned = zoned_specs(body.layout, ZONES)
    main = render_slide(alert_spec(body.layout, (zoned.rects.main.width, zoned.rects.main.height)),
                        {Language(k): v for k, v in {"vi": "Cửa khẩu tạm đóng", "en": "Border gate closed",
                                                    "km": "ច្រកបិទ"}.items()})
    frame = output.frames[-1]
    assert same(frame, expected(body, clock.at, {}, 0, main=main))
    assert frame.getpixel((2, 2)) == (170, 0, 0)  # the main zone is the alert's red


def test_a_full_screen_alert_covers_every_zone(world: tuple[Agent, Clock, Frames, ManifestBody]) -> None:
    agent, clock, output, body = world
    agent._on_alert(alert(["gate-1"], "a1", 1, now=clock.at, ttl_s=300, cover="full"))
    agent.tick()
    full = render_slide(alert_spec(body.layout), {Language.VI: "Cửa khẩu tạm đóng", Language.EN: "Border gate closed",
                                                  Language.KM: "ច្រកបិទ"})
    assert same(output.frames[-1], full)
    assert output.frames[-1].getpixel((2, SIZE[1] - 2)) == (170, 0, 0)  # where the ticker was


def test_ticker_messages_get_their_own_play_records(world: tuple[Agent, Clock, Frames, ManifestBody]) -> None:
    agent, clock, _output, body = world
    agent.tick()
    start = clock.at
    strip = TickerStrip(zoned_specs(body.layout, ZONES).ticker, NEWS)  # type: ignore[arg-type]
    one_pass = max(strip.period / SPEED, 5.0)
    clock.at = start + timedelta(seconds=one_pass + 0.5)
    agent.tick()
    records = agent.journal.pending()
    ticker = [r for r in records if r.zone == "ticker"]
    assert len(ticker) == 1
    record = ticker[0]
    assert (record.slide_id, record.playlist_id, record.started_at) == ("n1", "news", start)
    assert record.duration_ms == round(one_pass * 1000) or abs(record.duration_ms - one_pass * 1000) <= 1
    assert {s.language for s in record.segments or ()} == {Language.VI, Language.EN, Language.KM}
    # the main zone's record for the slide is still open: it closes when the slide ends, as before zones
    assert all(r.zone is None for r in records if r.slide_id == "s1")


def test_a_ticker_layout_scrolls_in_the_main_zone_beside_the_strip(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    enrol_state(state_dir, "gate-1")
    day = (now_utc() + timedelta(days=1)).astimezone(TIMEZONE).date()
    clock = Clock(from_local(datetime.combine(day, time(9, 0))))
    body = zoned_manifest(now_utc(), LayoutKind.TICKER)
    (state_dir / MANIFEST_FILE).write_bytes(signed(body))
    StateStore(state_dir / "state.json").accept_manifest(1)
    output = Frames()
    agent = Agent(settings_for(state_dir, heartbeat_period_s=3600, ticker_fps=FPS, ticker_speed_px_s=SPEED),
                  output, clock=clock)  # type: ignore[arg-type]
    try:
        zoned = zoned_specs(body.layout, ZONES)
        assert zoned.main.layout == "ticker" and zoned.rects.strip is not None
        agent.tick()
        clock.at += timedelta(seconds=3)
        agent.tick()
        first, later = output.frames[0], output.frames[-1]
        main_box = zoned.rects.main.box
        assert not same(first.crop(main_box), later.crop(main_box))  # the main zone scrolls
        assert same(later.crop(main_box), TickerStrip(zoned.main, CAPTIONS).frame(int(3 * SPEED)))
        texts = widget_texts(WIDGETS, clock.at, {})
        assert same(later.crop(zoned.rects.strip.box), draw_strip(zoned.rects.strip, texts, vertical_layout=False))
    finally:
        agent.close()
