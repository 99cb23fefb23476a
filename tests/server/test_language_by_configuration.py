"""A language added by editing languages.toml alone goes from upload to a player's frame (issue 18)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from signage_core.languages import (
    DEFAULT_LANGUAGES_FILE,
    LANGUAGES_FILE_ENV,
    Language,
    use_registry,
)
from signage_core.render import frame_hash, render_slide
from signage_core.render.fonts import default_registry
from signage_core.render.layout import layout_slide
from signage_core.screen import screen_spec
from signage_server.reports import exports
from tests.player.agent_world import settings_for, start_agent, wait_for
from tests.server.test_end_to_end import _ok, api  # noqa: F401 - the app, seeded world and tokens
from tests.server.test_webui import Browser
from tests.server.world import enrol_player

RUSSIAN = """
[languages.ru]
native = "Русский"
name_vi = "Tiếng Nga"
name_en = "Russian"
script = "latin"   # Cyrillic letters fall to the Latin chain, whose Noto Sans draws them
breaks = "spaces"
min_px = 14
order = 60
"""
VI_TEXT = "Chào mừng quý khách đến cửa khẩu quốc tế Hoa Lư"
RU_TEXT = "Добро пожаловать на международный пограничный пункт Хоа Лы"


@pytest.fixture()
def russian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    config = tmp_path / "languages.toml"
    config.write_text(DEFAULT_LANGUAGES_FILE.read_text(encoding="utf-8") + RUSSIAN, encoding="utf-8")
    monkeypatch.setenv(LANGUAGES_FILE_ENV, str(config))
    use_registry(None)  # read again at next use: the file is the only change
    yield
    monkeypatch.delenv(LANGUAGES_FILE_ENV)
    use_registry(None)


def test_a_language_added_in_languages_toml_reaches_a_player_frame(
        russian: None, api: Any, tmp_path: Path) -> None:  # noqa: F811 - api: the imported fixture
    client, who, ids = api  # the registry is swapped (russian) before the app starts
    assert Language("ru").info.name_vi == "Tiếng Nga"
    # Roles follow: the admin gives the translator Russian; an unconfigured code is still refused.
    users = _ok(client.get("/api/v1/users", headers=who["admin"]))["items"]
    translator = next(u for u in users if u["username"] == "translator")
    refused = client.patch(f"/api/v1/users/{translator['id']}", json={"languages": ["en", "km", "ru", "xx"]},
                           headers=who["admin"])
    assert refused.status_code == 422 and "xx" in refused.text
    _ok(client.patch(f"/api/v1/users/{translator['id']}", json={"languages": ["en", "km", "ru"]},
                     headers=who["admin"]))

    slide = _ok(client.post("/api/v1/slides", json={"name": f"ru-{uuid.uuid4().hex[:6]}"}, headers=who["operator"]),
                201)
    _ok(client.put(f"/api/v1/slides/{slide['id']}/captions/vi", json={"text": VI_TEXT, "submit": True},
                   headers=who["operator"]))
    # The queue, the translation page and its preview follow, as for any shipped language.
    page = Browser(client.app, "translator")
    assert f"/translate/{slide['id']}" in page.get("/translate").text
    translate = page.get(f"/translate/{slide['id']}").text
    assert 'id="text-ru"' in translate and "Tiếng Nga" in translate
    assert exports.LANGUAGE_NAMES["ru"] == "Tiếng Nga"  # reports name it too
    _ok(client.put(f"/api/v1/slides/{slide['id']}/captions/ru", json={"text": RU_TEXT, "submit": True},
                   headers=who["translator"]))
    for lang in ("vi", "ru"):
        _ok(client.post(f"/api/v1/slides/{slide['id']}/captions/{lang}/approve", headers=who["approver"]))
    _ok(client.post(f"/api/v1/slides/{slide['id']}/approve", headers=who["approver"]))
    playlist = _ok(client.post("/api/v1/playlists", json={"name": f"ru-{uuid.uuid4().hex[:6]}", "items": [
        {"slide_id": slide["id"], "duration_s": 10}]}, headers=who["operator"]), 201)

    admin_token = who["admin"]["Authorization"].removeprefix("Bearer ")
    state = enrol_player(client, admin_token, {**ids, "playlist": playlist["id"]}, tmp_path,
                         languages=("vi", "ru"))
    # Preview and validation on the new screen: Russian fits; a character no font has is named.
    on_screen = int(state.name.removeprefix("player-"))
    preview = page.get(f"/slides/{slide['id']}/preview.json", params={"ru": RU_TEXT}).json()
    mine = next(s for s in preview["screens"] if s["id"] == on_screen)
    assert mine["problems"] == [], mine
    bad = page.get(f"/slides/{slide['id']}/preview.json", params={"ru": RU_TEXT + " ꦗ"}).json()
    mine = next(s for s in bad["screens"] if s["id"] == on_screen)
    assert {(p["language"], p["code"]) for p in mine["problems"]} == {("ru", "missing_glyph")}, mine
    player = start_agent(settings_for(state))
    try:
        wait_for(lambda: player.agent.manifest is not None and any(
            Language("ru") in s.captions for s in player.agent.manifest.slides.values()), 20,
            "a manifest with Russian")
        manifest = player.agent.manifest
        assert manifest is not None and manifest.layout.languages == (Language.VI, Language("ru"))
        captions = next(s.captions for s in manifest.slides.values() if Language("ru") in s.captions)
        assert captions[Language("ru")] == RU_TEXT
        spec = screen_spec(manifest.layout)
        expected = frame_hash(render_slide(spec, captions, None))
        wait_for(lambda: any(frame_hash(frame) == expected for _t, frame in player.shown), 20,
                 "the player showing the Russian slide")
    finally:
        player.stop()
    # Drawn below Vietnamese at no more than 3/4 of its size, every character with a real glyph.
    blocks = layout_slide(spec, captions, default_registry()).blocks
    vi, ru = (placed.block for placed in blocks)
    assert (vi.language, ru.language) == (Language.VI, Language("ru"))
    assert ru.size <= 0.75 * vi.size and not ru.prepared.missing
    assert min(line.baseline for line in blocks[1].lines) > max(line.baseline for line in blocks[0].lines)
