"""Pages follow languages.toml: fonts served for its scripts, new screens ticked as it says (issue 18)."""

from __future__ import annotations

import re
from typing import Any

from signage_core.render import Script, default_registry
from tests.server.test_webui import Browsers


def test_lao_and_thai_fonts_are_served_by_the_app_for_the_pages(app: Any) -> None:
    """A translator's PC without Lao or Thai fonts still shows the text it edits (no CDN)."""
    tr = Browsers(app)["translator"]
    for script, name in (("lao", "NotoSansLao"), ("thai", "NotoSansThai"), ("khmer", "NotoSansKhmer")):
        r = tr.get(f"/webfonts/{script}")
        assert r.status_code == 200 and r.headers["content-type"] == "font/ttf", script
        face = default_registry().chains[Script(script)][0]
        assert face.path.name.startswith(name) and r.content == face.path.read_bytes(), script
    assert tr.get("/webfonts/han").status_code == 404  # a 20 MB .ttc is no web font
    assert tr.get("/webfonts/nosuchscript").status_code == 404
    css = tr.get("/static/app.css").text
    assert "url(/webfonts/lao)" in css and "url(/webfonts/thai)" in css



def test_a_new_screen_starts_with_the_languages_configured_for_new_screens(app: Any, world: dict[str, int]) -> None:
    page = Browsers(app)["admin"].get("/screens").text
    ticked = set(re.findall(r'name="languages" value="([^"]+)" checked', page))
    offered = set(re.findall(r'name="languages" value="([^"]+)"', page))
    assert ticked == {"vi", "en", "km"} and offered >= {"vi", "en", "km", "zh-Hans", "lo", "th"}
