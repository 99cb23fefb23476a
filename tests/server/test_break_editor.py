"""The translator's Khmer break points (issue 18): shown on the translation page, editable, and then shipped as set."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from signage_core.text import ZWSP
from signage_server.manifests import service as manifests
from signage_server.slides import service as slides
from signage_server.users.models import User
from tests.server.conftest import Api, Clock
from tests.server.test_caption_revisions import approve, put
from tests.server.test_manifests import KEY, verified
from tests.server.test_webui import Browsers
from tests.server.world import NOW

KM = "ខេត្តប៊ិញភឿកសូមស្វាគមន៍"


def test_the_page_offers_the_editor_for_khmer_only_and_the_hints_are_the_screens(
        app: Any, world: dict[str, int]) -> None:
    tr = Browsers(app)["translator"]
    page = tr.get(f"/translate/{world['pending_slide']}").text
    assert 'class="break-editor" data-for="text-km"' in page and 'data-for="text-en"' not in page
    assert "Chèn điểm ngắt tại con trỏ" in page and "/static/breaks.js" in page
    automatic = tr.get("/translate/hints.json", params={"language": "km", "text": KM}).json()["text"]
    assert automatic.split(ZWSP)[:3] == ["ខេត្ត", "ប៊ិញភឿក", "សូមស្វាគមន៍"]
    # A translator's own marks are kept, except one inside a syllable (after COENG), which no screen obeys.
    own = tr.get("/translate/hints.json", params={"language": "km", "text": "ខេត្តប៊ិញ\u200bភឿក ខេត្\u200bត"}).json()
    assert own["text"] == "ខេត្តប៊ិញ\u200bភឿក ខេត្ត"
    refused = tr.get("/translate/hints.json", params={"language": "xx", "text": KM})
    assert refused.status_code == 422 and "xx" in refused.text
    assert Browsers(app)["operator"].get("/translate/hints.json", params={"language": "km", "text": KM}
                                         ).status_code in (303, 403)


def test_the_translators_break_points_reach_the_screen_as_set(
        api: Api, world: dict[str, int], users: dict[str, User], session: Session, clock: Clock) -> None:
    slides.approve_slide(session, actor=users["approver2"], slide_id=world["slide"], now=NOW)
    session.commit()
    mine = "ខេត្តប៊ិញ\u200bភឿក\u200bសូមស្វាគមន៍"  # the name split where the automatic hints never would
    assert put(api, "translator", world["slide"], "km", mine, submit=True).status_code == 200
    approve(api, "approver", world["slide"], "km")
    clock.advance(minutes=1)
    result = manifests.compile_screen(session, screen_id=world["screen"], key=KEY, now=clock.now)
    assert result.error is None and result.record is not None
    shipped = verified(result.record, clock)["slides"][str(world["slide"])]["captions"]  # type: ignore[index]
    assert shipped["km"] == mine

