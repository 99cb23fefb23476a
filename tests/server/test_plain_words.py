"""The one mapping layer from errors to the page's language (issue 15), without a browser."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from signage_server.audit.views import ACTIONS, ENTITIES
from signage_server.errors import Invalid, NotFound
from signage_server.i18n import translations
from signage_server.i18n.errors import (
    ENTITY_LABELS,
    FIELD_LABELS,
    TYPE_MESSAGES,
    VALUE_PATTERNS,
    describe,
)
from signage_server.schedules.service import check_rule
from signage_server.schedules.views import parse_date_line


def test_every_sentence_of_the_mapping_layer_has_a_vietnamese_translation() -> None:
    vi = translations("vi")
    msgids = {*FIELD_LABELS.values(), *TYPE_MESSAGES.values(), *ENTITY_LABELS.values(), *ACTIONS.values(),
              *ENTITIES.values(), *(template for _p, template in VALUE_PATTERNS)}
    assert not sorted(m for m in msgids if vi.gettext(m) == m)


def test_every_audited_action_and_object_has_a_name_in_the_audit_page() -> None:
    """An action the code records but the audit page cannot name shows an English code to an inspector."""
    import re
    from pathlib import Path

    import signage_server

    root = Path(signage_server.__file__).parent
    source = "\n".join(p.read_text(encoding="utf-8") for p in root.rglob("*.py"))
    actions = set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', source))
    entities = set(re.findall(r'entity="([a-z_]+)"', source))
    assert actions and entities
    assert sorted(actions - set(ACTIONS)) == []
    assert sorted(entities - set(ENTITIES)) == []


def _rule_error(rule: dict[str, Any]) -> Invalid:
    with pytest.raises(Invalid) as caught:
        check_rule(rule, schedule_id=None, playlist_id=1, priority=0)
    return caught.value


def test_a_rule_model_error_reads_field_by_field_in_the_page_language() -> None:
    exc = _rule_error({"windows": [{"start": "25:00", "end": "26:00"}]})
    assert exc.message.startswith("rule.windows.0.start: Input should be")  # the API keeps its English
    vi = describe(exc, "vi")
    assert vi.startswith("Khung giờ 1, giờ bắt đầu: giờ không hợp lệ") and "Khung giờ 1, giờ kết thúc" in vi
    assert "Input" not in vi and "rule" not in vi
    assert describe(exc, "en").startswith("Time windows 1, start time: not a valid time")


@pytest.mark.parametrize(("rule", "words"), [
    ({"dates": [{"kind": "solar", "day": 31, "month": 2}]}, "31/2 không phải một ngày có thật"),
    ({"start_date": "2026-12-31", "end_date": "2026-01-01"}, "«Đến ngày» 2026-01-01 đứng trước «Từ ngày» 2026-12-31"),
    ({"dates": [{"kind": "lunar", "day": 31, "month": 1}]}, "Ngày hằng năm 1, ngày không được quá 30."),
    ({"weekdays": []}, "chưa chọn ngày nào"),
])
def test_the_shared_models_own_messages_are_translated(rule: dict[str, Any], words: str) -> None:
    assert words in describe(_rule_error(rule), "vi")


def test_parameterised_and_not_found_errors_are_translated_then_filled() -> None:
    exc = Invalid("screen %(id)s does not exist", field="screen_ids.0", params={"id": 99})
    assert exc.message == "screen 99 does not exist"
    assert describe(exc, "vi") == "màn hình số 99 không tồn tại"
    assert describe(Invalid("%(field)s must be a whole number", field="priority", params={"field": "priority"}),
                    "vi") == "Mức ưu tiên phải là số nguyên"
    assert describe(NotFound("playlist", 7), "vi").startswith("Mục danh sách phát đã chọn không còn nữa")


@pytest.mark.parametrize(("line", "kind", "day", "month"), [
    ("âm lịch 1/1", "lunar", 1, 1), ("dương lịch 30/4", "solar", 30, 4), ("lunar 15/1", "lunar", 15, 1),
    ("solar 2/9", "solar", 2, 9), ("Âm lịch 10/3", "lunar", 10, 3), ("âm 1/1", "lunar", 1, 1),
    ("  dương  lịch  30 / 4 ", "solar", 30, 4), ("al 15/8", "lunar", 15, 8),
])
def test_dates_are_read_in_the_words_the_pages_print(line: str, kind: str, day: int, month: int) -> None:
    assert parse_date_line(line) == {"kind": kind, "day": day, "month": month}


@pytest.mark.parametrize("line", ["moon 1/1", "âm lịch", "1/1", "âm lịch 1-1", "lịch 1/1"])
def test_other_date_words_are_refused_in_vietnamese(line: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_date_line(line)
    assert "phải viết như «âm lịch 15/1» hoặc «dương lịch 30/4»" in describe(caught.value, "vi")


def test_the_api_keeps_english_and_adds_the_page_language_for_page_scripts(api: Any) -> None:
    client: TestClient = api.as_("operator")
    got = client.post("/api/v1/assets", files={"file": ("x.png", b"<svg><script>1</script></svg>", "image/png")})
    error = got.json()["error"]
    assert got.status_code == 415 and error["message"].startswith("SVG, HTML and scripts are not accepted")
    assert error["display"].startswith("Không nhận SVG, HTML hay tập lệnh")


def test_the_favicon_is_served_by_the_app(api: Any) -> None:
    got = api.anon.get("/favicon.ico")
    assert got.status_code == 200 and got.headers["content-type"] == "image/x-icon" and got.content[:4] == b"\0\0\1\0"


# Refusals only a player, the command line or the broker set-up meets: no page shows them.
_NOT_SHOWN_ON_PAGES = ("backup/", "transport/", "manifests/", "enrolment/", "demo.py", "config.py")
_PLAYER_ONLY = "screenshot from screen"
# Raised with details the pages translate item by item (pydantic errors, the renderer's problems).
_ITEMISED = {"schedules/service.py", "slides/preview.py"}


def test_every_refusal_a_page_can_show_is_a_catalog_template_with_a_vietnamese_translation() -> None:
    """A message built with an f-string, or missing from the vi catalog, reaches a Vietnamese page in English."""
    import ast
    from pathlib import Path

    import signage_server
    from signage_server import errors

    raised = {cls.__name__ for cls in vars(errors).values()
              if isinstance(cls, type) and issubclass(cls, errors.SignageError)} - {"NotFound"}
    vi = translations("vi")
    root = Path(signage_server.__file__).parent
    untranslated, built = [], []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root).as_posix()
        if where.startswith(_NOT_SHOWN_ON_PAGES) or "migrations/" in where:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in raised
                    and node.args):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                if vi.gettext(first.value) == first.value:
                    untranslated.append(f"{where}:{node.lineno} {first.value}")
            elif isinstance(first, ast.Name):
                continue  # a module constant (e.g. the upload refusal), tested where it is raised
            elif not (where in _ITEMISED or _PLAYER_ONLY in ast.unparse(first)):
                built.append(f"{where}:{node.lineno} {ast.unparse(first)}")
    assert untranslated == [] and built == []


@pytest.mark.parametrize(("exc", "words"), [
    (Invalid("caption text is empty", field="text"), "chú thích đang để trống"),
    (Invalid("an alert lasts at most %(days)s days", field="expires_at", params={"days": 7}), "tối đa 7 ngày"),
    (Invalid("%(field)s is required", field="playlist_id", params={"field": "playlist_id"}),
     "Cần nhập Danh sách phát"),
    (Invalid("%(field)s must be 1-%(max)s", field="width_px", params={"field": "width_px", "max": 8192}),
     "Chiều rộng (điểm ảnh) phải từ 1 đến 8192"),
    (Invalid("a report covers at most %(days)s days", field="to", params={"days": 400}), "tối đa 400 ngày"),
])
def test_service_refusals_read_in_vietnamese_with_their_values(exc: Invalid, words: str) -> None:
    said = describe(exc, "vi")
    assert words in said, said
    assert describe(exc, "en").isascii()  # the English page keeps English


def test_the_audit_change_view_shows_stored_instants_in_local_time_and_names_enrolment_fields() -> None:
    from zoneinfo import ZoneInfo

    from signage_server.audit.views import changes

    vi = translations("vi").gettext
    rows = changes(None, {"approved_at": "2026-12-03T18:36:49.714520Z", "code_id": 2,
                          "expires_at": "2026-12-04T18:36:48+00:00"}, vi, ZoneInfo("Asia/Ho_Chi_Minh"))
    said = {c.field: c.after for c in rows}
    assert said == {"Duyệt lúc": "04/12/2026 01:36:49", "Mã đăng ký": "2", "Hết hạn lúc": "05/12/2026 01:36:48"}, said


def test_the_audit_change_view_names_the_approver_not_a_number() -> None:
    from signage_server.audit.views import changes

    vi = translations("vi").gettext
    rows = changes({"approved_by_id": None}, {"approved_by_id": 5}, vi, None, {5: "Lãnh đạo duyệt"})
    assert [(c.field, c.before, c.after) for c in rows] == [("Người duyệt", "—", "Lãnh đạo duyệt")]
