"""The manifest must carry exactly what the screen shows, and the player must read it the same way."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from signage_core.canonical import canonical_json, canonical_object
from signage_core.languages import Language
from signage_core.manifest import (
    Asset,
    LayoutKind,
    LayoutSpec,
    ManifestBody,
    ManifestError,
    Playlist,
    PlaylistItem,
    Slide,
    build_manifest,
    build_manifest_template,
    content_hash,
    horizon_window,
    interleave,
    is_screen_on,
    now_playing,
    rotation_slots,
    segment_at,
    sign_manifest,
    verify_manifest,
)
from signage_core.schedule import LunarDate, ScheduleRule, TimeWindow
from signage_core.signing import (
    EnvelopeKind,
    Rejection,
    SigningKey,
    TrustStore,
    VerificationError,
    sign_envelope,
)
from signage_core.text import ZWSP

CORPUS = json.loads(Path("/work/shared/corpus/captions.json").read_text("utf-8"))
ICT = timedelta(hours=7)
NOW = datetime(2026, 2, 12, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam, five days before Tết
SCREEN = "hoa-lu-arrivals"
IMAGE = "ab" * 32


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC) - ICT  # type: ignore[misc]


def slide_from_corpus(index: int) -> Slide:
    c = CORPUS["captions"][index]
    khmer = c["km"].replace(" ", ZWSP)  # the renderer breaks lines only at U+200B
    return Slide(id=c["id"], captions={Language.VI: c["vi"], Language.EN: c["en"], Language.KM: khmer},
                 image=IMAGE if index == 0 else None)


SLIDES = [slide_from_corpus(0), slide_from_corpus(1)]
WELCOME, GATE = SLIDES[0].id, SLIDES[1].id
PLAYLISTS = [
    Playlist(id="everyday", items=(PlaylistItem(slide_id=WELCOME, duration_ms=10_000),)),
    Playlist(id="tet", items=(PlaylistItem(slide_id=GATE, duration_ms=6_000),
                              PlaylistItem(slide_id=WELCOME, duration_ms=4_000))),
    Playlist(id="unused", items=(PlaylistItem(slide_id="not-supplied", duration_ms=5_000),)),
]
ASSETS = [Asset(sha256=IMAGE, size=123_456, media_type="image/png")]
LAYOUT = LayoutSpec(width=1920, height=1080, layout=LayoutKind.STACKED,
                    languages=(Language.VI, Language.EN, Language.KM),
                    on_hours=TimeWindow(start=time(5), end=time(23)))
RULES = [ScheduleRule(id="tet", playlist_id="tet", priority=5, dates=(LunarDate(day=1, month=1),))]


def build(version: int = 1, now: datetime = NOW, **overrides: object) -> ManifestBody:
    start, end = horizon_window(now)
    args: dict[str, object] = dict(
        screen_id=SCREEN, version=version, issued_at=now, expires_at=end, layout=LAYOUT, rules=RULES,
        default_playlist="everyday", playlists=PLAYLISTS, slides=SLIDES, assets=ASSETS,
        horizon_start=start, horizon_end=end,
    )
    args.update(overrides)
    return build_manifest(**args)  # type: ignore[arg-type]


def test_horizon_is_local_days() -> None:
    start, end = horizon_window(NOW)
    assert start == local(2026, 2, 12) and end == local(2026, 2, 20)
    assert horizon_window(NOW + timedelta(hours=12)) == (start, end)  # 22:00 local, same day


def test_manifest_carries_timeline_and_only_what_it_uses() -> None:
    body = build()
    assert [(s.start, s.playlist_ids) for s in body.timeline] == [
        (local(2026, 2, 12), ("everyday",)),
        (local(2026, 2, 17), ("tet",)),
        (local(2026, 2, 18), ("everyday",)),
    ]
    assert set(body.playlists) == {"everyday", "tet"}  # "unused" and its missing slide stay out
    assert set(body.slides) == {WELCOME, GATE}
    assert set(body.assets) == {IMAGE}


def test_signed_manifest_round_trips_and_keeps_khmer_break_hints() -> None:
    key = SigningKey.generate()
    body = build()
    raw = sign_manifest(body, key).to_json()
    assert ZWSP.encode() in raw
    assert "Chào mừng quý khách".encode() in raw
    got = verify_manifest(raw, trust=TrustStore.of(key.public_key), screen_id=SCREEN, last_version=None, now=NOW)
    assert got == body
    assert ZWSP in got.slides[GATE].captions[Language.KM]


def test_content_hash_ignores_version_and_dates() -> None:
    first = build(version=1)
    later_same_day = build(version=2, now=NOW + timedelta(hours=5))
    assert later_same_day.content_hash == first.content_hash
    assert later_same_day.version == 2


def test_content_hash_changes_with_a_caption() -> None:
    edited = [SLIDES[0].model_copy(update={"captions": {**SLIDES[0].captions, Language.EN: "Welcome!"}}), SLIDES[1]]
    assert build(slides=edited).content_hash != build().content_hash


def test_content_hash_unchanged_by_content_this_screen_does_not_show() -> None:
    extra = [*SLIDES, Slide(id="other", captions={Language.VI: "Khác", Language.EN: "Other", Language.KM: "ផ្សេង"})]
    assert build(slides=extra).content_hash == build().content_hash


def test_tampered_content_hash_does_not_validate() -> None:
    data = json.loads(canonical_json(build()))
    data["content_hash"] = "sha256:" + "0" * 64
    with pytest.raises(ValidationError, match="does not match content"):
        ManifestBody.model_validate(data)
    assert content_hash(build()) == build().content_hash


def test_signed_but_inconsistent_body_is_malformed() -> None:
    key = SigningKey.generate()
    data = json.loads(canonical_json(build()))
    del data["slides"][GATE]  # the server must never send this, but the player must not crash on it
    raw = sign_envelope(EnvelopeKind.MANIFEST, data, key).to_json()
    with pytest.raises(VerificationError) as info:
        verify_manifest(raw, trust=TrustStore.of(key.public_key), screen_id=SCREEN, last_version=None, now=NOW)
    assert info.value.reason is Rejection.MALFORMED


def test_slide_missing_a_screen_language_is_refused() -> None:
    vi_only = Slide(id=WELCOME, captions={Language.VI: "Chào mừng"}, image=IMAGE)
    with pytest.raises(ManifestError, match=r"no approved caption for \['en', 'km'\]"):
        build(slides=[vi_only, SLIDES[1]])


def test_missing_pieces_are_named() -> None:
    with pytest.raises(ManifestError, match=r"slide\(s\) that were not supplied: \['welcome-vn'\]"):
        build(slides=[SLIDES[1]])
    with pytest.raises(ManifestError, match=r"asset\(s\) that were not supplied"):
        build(assets=[])
    with pytest.raises(ManifestError, match=r"playlist\(s\) that were not supplied: \['everyday'\]"):
        build(playlists=PLAYLISTS[1:])


def test_layout_rules() -> None:
    with pytest.raises(ValidationError, match="Vietnamese must come first"):
        LayoutSpec(width=10, height=10, layout=LayoutKind.STACKED, languages=(Language.EN, Language.VI))
    # The foreign languages keep the order the screen was set up with (Khmer first facing Cambodia).
    facing = LayoutSpec(width=10, height=10, layout=LayoutKind.ROTATE, languages=(Language.VI, Language.KM, Language.EN))
    assert facing.languages == (Language.VI, Language.KM, Language.EN)
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        LayoutSpec(width=10, height=10, layout=LayoutKind.STACKED, languages=(Language.VI,), foreign_size_ratio=1.5)
    assert LAYOUT.foreign_size_ratio == 0.75


def test_rotation_shares_an_item_equally_and_lengthens_short_items() -> None:
    assert rotation_slots(10_000, 3) == [(0, 3333), (3333, 6666), (6666, 10_000)]
    assert rotation_slots(8000, 1) == [(0, 8000)]
    rotate = LayoutSpec(width=10, height=10, layout=LayoutKind.ROTATE, languages=(Language.VI, Language.KM, Language.EN),
                        rotation_ms=3000)
    assert rotate.item_ms(10_000) == 10_000  # 3.3 s each: above the minimum dwell
    assert rotate.item_ms(6000) == 9000  # lengthened: three languages of at least 3 s
    assert LAYOUT.model_copy(update={"layout": LayoutKind.STACKED}).item_ms(6000) == 6000
    body = build(layout=rotate, playlists=[Playlist(id=p.id, items=tuple(
        PlaylistItem(slide_id=i.slide_id, duration_ms=2000) for i in p.items)) for p in PLAYLISTS])
    assert {i.duration_ms for p in body.playlists.values() for i in p.items} == {9000}


def test_nfd_caption_is_refused() -> None:
    nfd = CORPUS["captions"][0]["vi_nfd"]
    with pytest.raises(ValidationError, match="not NFC"):
        Slide(id="x", captions={Language.VI: nfd})


def test_bad_asset_fields_are_named() -> None:
    with pytest.raises(ValidationError, match="64 lowercase hex"):
        Asset(sha256="ABC", size=1, media_type="image/png")
    with pytest.raises(ValidationError, match="media_type"):
        Asset(sha256=IMAGE, size=1, media_type="png")


def test_interleave_alternates_and_wraps_the_shorter_playlist() -> None:
    a = Playlist(id="a", items=tuple(PlaylistItem(slide_id=f"a{i}", duration_ms=1000) for i in range(3)))
    b = Playlist(id="b", items=(PlaylistItem(slide_id="b0", duration_ms=1000),))
    assert [i.slide_id for i in interleave([a, b])] == ["a0", "b0", "a1", "b0", "a2", "b0"]
    assert interleave([b]) == b.items


def test_now_playing_walks_the_cycle_from_segment_start() -> None:
    body = build()
    tet_start = local(2026, 2, 17)
    first = now_playing(body, tet_start + timedelta(seconds=1))
    assert (first.item.slide_id, first.position, first.started_at) == (GATE, 0, tet_start)
    assert first.until == tet_start + timedelta(seconds=6)
    second = now_playing(body, tet_start + timedelta(seconds=7))
    assert (second.item.slide_id, second.position) == (WELCOME, 1)
    wrapped = now_playing(body, tet_start + timedelta(seconds=10))
    assert (wrapped.position, wrapped.started_at) == (0, tet_start + timedelta(seconds=10))
    assert not first.stale and not first.is_default


def test_item_is_cut_at_the_segment_end() -> None:
    body = build()
    last = now_playing(body, local(2026, 2, 17, 23, 59, 59))
    assert last.until == local(2026, 2, 18)
    assert now_playing(body, local(2026, 2, 18)).playlist_ids == ("everyday",)


def test_past_the_horizon_the_default_loops_and_is_flagged_stale() -> None:
    body = build()
    assert segment_at(body, body.horizon_end) is None
    late = now_playing(body, body.horizon_end + timedelta(days=3, seconds=15))
    assert late.playlist_ids == ("everyday",) and late.stale and late.is_default
    assert late.slide.id == WELCOME


def test_equal_priority_segment_plays_interleaved() -> None:
    rules = [
        ScheduleRule(id="x", playlist_id="everyday", priority=1, start_date=date(2026, 2, 13), end_date=date(2026, 2, 13)),
        ScheduleRule(id="y", playlist_id="tet", priority=1, start_date=date(2026, 2, 13), end_date=date(2026, 2, 13)),
    ]
    body = build(rules=rules)
    start = local(2026, 2, 13)
    shown = [now_playing(body, start + timedelta(seconds=s)).item.slide_id for s in (0, 10, 16, 26)]
    assert shown == [WELCOME, GATE, WELCOME, WELCOME]  # everyday[0], tet[0], everyday[0], tet[1]


def test_screen_on_hours_in_local_time() -> None:
    assert is_screen_on(LAYOUT, local(2026, 2, 12, 5))
    assert not is_screen_on(LAYOUT, local(2026, 2, 12, 23))
    night = LAYOUT.model_copy(update={"on_hours": TimeWindow(start=time(18), end=time(6))})
    assert is_screen_on(night, local(2026, 2, 12, 2)) and not is_screen_on(night, local(2026, 2, 12, 12))
    always = LAYOUT.model_copy(update={"on_hours": None})
    assert is_screen_on(always, local(2026, 2, 12, 3))


def test_interleaved_items_name_the_playlist_they_came_from() -> None:
    from signage_core.manifest import NowPlaying, Playlist, PlaylistItem, Slide, interleave

    a, b = PlaylistItem(slide_id="x", duration_ms=1000), PlaylistItem(slide_id="y", duration_ms=1000)
    cycle = interleave([Playlist(id="a", items=(a, a, a)), Playlist(id="b", items=(b,))])
    assert [i.slide_id for i in cycle] == ["x", "y", "x", "y", "x", "y"]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for position, expected in ((0, "a"), (1, "b"), (2, "a"), (5, "b")):
        np = NowPlaying(playlist_ids=("a", "b"), item=a, slide=Slide(id="x", captions={}), position=position,
                        started_at=at, until=at, is_default=False, stale=False)
        assert np.playlist_id == expected


def template(**overrides: object):  # type: ignore[no-untyped-def]
    start, end = horizon_window(NOW)
    args: dict[str, object] = dict(
        screen_id=SCREEN, version=1, issued_at=NOW, expires_at=end, layout=LAYOUT, rules=RULES,
        default_playlist="everyday", playlists=PLAYLISTS, slides=SLIDES, assets=ASSETS,
        horizon_start=start, horizon_end=end,
    )
    args.update(overrides)
    return build_manifest_template(**args)  # type: ignore[arg-type]


def test_template_splices_the_same_bytes_a_full_encode_gives() -> None:
    shared = template()
    _, end = horizon_window(NOW)
    for screen_id, version in (("bu-dop-exit", 7), ("hoa-lu-arrivals", 1), ("cửa-khẩu-ស្វាគមន៍", 42)):
        full = build(version=version, screen_id=screen_id)
        assert shared.content_hash(screen_id) == full.content_hash
        assert shared.body_json(screen_id=screen_id, version=version, issued_at=NOW, expires_at=end) \
            == canonical_json(full)


def test_each_screen_of_a_template_verifies_only_for_itself() -> None:
    key = SigningKey.generate()
    trust = TrustStore.of(key.public_key)
    shared = template()
    _, end = horizon_window(NOW)
    signed = {sid: shared.sign(screen_id=sid, version=3, issued_at=NOW, expires_at=end, key=key)
              for sid in ("hoa-lu-arrivals", "bu-dop-exit")}
    for sid, one in signed.items():
        got = verify_manifest(one.envelope_json, trust=trust, screen_id=sid, last_version=2, now=NOW)
        assert got.screen_id == sid and got.version == 3 and got.content_hash == one.content_hash
        assert got.slides == shared.body.slides and got.timeline == shared.body.timeline
    with pytest.raises(VerificationError) as wrong:
        verify_manifest(signed["bu-dop-exit"].envelope_json, trust=trust, screen_id="hoa-lu-arrivals",
                        last_version=None, now=NOW)
    assert wrong.value.reason is Rejection.WRONG_SCREEN
    assert signed["bu-dop-exit"].content_hash != signed["hoa-lu-arrivals"].content_hash


def test_template_refuses_a_bad_header_by_name() -> None:
    shared = template()
    key = SigningKey.generate()
    _, end = horizon_window(NOW)
    with pytest.raises(ManifestError, match="version"):
        shared.sign(screen_id=SCREEN, version=0, issued_at=NOW, expires_at=end, key=key)
    with pytest.raises(ManifestError, match="expires_at"):
        shared.sign(screen_id=SCREEN, version=2, issued_at=end, expires_at=NOW, key=key)
    with pytest.raises(ManifestError, match="screen_id"):
        shared.sign(screen_id="", version=2, issued_at=NOW, expires_at=end, key=key)
    with pytest.raises(ValueError, match="timezone"):
        shared.sign(screen_id=SCREEN, version=2, issued_at=NOW.replace(tzinfo=None), expires_at=end, key=key)


_json_scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=8)
_json_values = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=10)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _json_values, max_size=6))
def test_canonical_object_equals_canonical_json_of_the_whole(members: dict[str, object]) -> None:
    assert canonical_object({k: canonical_json(v) for k, v in members.items()}) == canonical_json(members)


SHARED_TEMPLATE = template()  # built once: hypothesis calls the test many times


@settings(max_examples=60, deadline=None)
@given(screen_id=st.text(min_size=1, max_size=24), version=st.integers(1, 2**53),
       issued_offset=st.integers(-10**6, 10**6), lifetime=st.integers(1, 10**7),
       micro=st.integers(0, 999_999))
def test_every_spliced_manifest_is_the_canonical_encoding_of_its_body(
        screen_id: str, version: int, issued_offset: int, lifetime: int, micro: int) -> None:
    shared = SHARED_TEMPLATE
    issued = NOW + timedelta(seconds=issued_offset, microseconds=micro)
    expires = issued + timedelta(seconds=lifetime)
    spliced = shared.body_json(screen_id=screen_id, version=version, issued_at=issued, expires_at=expires)
    full = shared.body.model_copy(update={"screen_id": screen_id, "version": version, "issued_at": issued,
                                          "expires_at": expires})
    full = full.model_copy(update={"content_hash": content_hash(full)})
    assert spliced == canonical_json(full)
    assert ManifestBody.model_validate_json(spliced) == full  # and it is a valid, self-consistent body

