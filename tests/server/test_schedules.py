"""Schedules API: the rule is signage_core's ScheduleRule, and the timeline endpoint shows what plays when."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import Api


def create(api: Api, world: dict[str, int], rule: dict[str, Any], *, name: str = "tet", priority: int = 5,
           playlist: str = "playlist") -> Any:
    return api.as_("operator").post("/api/v1/schedules", json={
        "name": name, "playlist_id": world[playlist], "priority": priority, "rule": rule,
        "screen_ids": [world["screen"]]})


@pytest.mark.parametrize(("rule", "field", "words"), [
    ({"weekdays": [7]}, "rule.weekdays", "0 (Monday) to 6 (Sunday)"),
    ({"weekdays": []}, "rule.weekdays", "never run"),
    ({"windows": [{"start": "08:00", "end": "08:00"}]}, "rule.windows.0", "empty"),
    ({"start_date": "2026-05-01", "end_date": "2026-04-30"}, "rule", "before start_date"),
    ({"dates": [{"kind": "lunar", "day": 1, "month": 13}]}, "rule.dates.0.lunar.month", "less than or equal to 12"),
    ({"dates": [{"kind": "solar", "day": 31, "month": 2}]}, "rule.dates.0.solar", "not a calendar date"),
    ({"days": "mon-fri"}, "rule.days", "Extra inputs"),
    ({"priority": 3}, "rule.priority", "set by the schedule itself"),
])
def test_a_bad_rule_is_a_422_naming_the_field(api: Api, world: dict[str, int], rule: dict[str, Any], field: str,
                                             words: str) -> None:
    r = create(api, world, rule)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["details"]["field"] == field and words in error["message"]


def test_the_full_rule_model_is_stored_in_its_normal_form(api: Api, world: dict[str, int]) -> None:
    rule = {"start_date": "2026-01-01", "end_date": "2026-12-31", "weekdays": [4, 0, 2],
            "windows": [{"start": "22:00", "end": "02:00"}, {"start": "07:30", "end": "11:00"}],
            "dates": [{"kind": "lunar", "day": 1, "month": 1}, {"kind": "solar", "day": 30, "month": 4}]}
    r = create(api, world, rule)
    assert r.status_code == 201, r.text
    stored = r.json()["rule"]
    assert stored["weekdays"] == [0, 2, 4]
    assert stored["windows"][0] == {"start": "22:00:00", "end": "02:00:00"}
    assert stored["dates"][0] == {"kind": "lunar", "day": 1, "month": 1}
    sid = r.json()["id"]
    bad = api.as_("operator").patch(f"/api/v1/schedules/{sid}", json={"rule": {"windows": [{"start": "25:00",
                                                                                         "end": "02:00"}]}})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "rule.windows.0.start"
    assert api.as_("operator").get(f"/api/v1/schedules/{sid}").json()["rule"] == stored  # unchanged


def test_timeline_labels_lunar_dates_and_reports_equal_priority_conflicts(api: Api, world: dict[str, int]) -> None:
    # Tết 2027 is 6 February (lunar 1/1); a Tết-only schedule at priority 5, plus a rival at the same priority.
    assert create(api, world, {"dates": [{"kind": "lunar", "day": 1, "month": 1}]}).status_code == 201
    rival = create(api, world, {"start_date": "2027-02-06", "end_date": "2027-02-06",
                                "windows": [{"start": "10:00", "end": "12:00"}]},
                   name="rival", playlist="empty_playlist")
    assert rival.status_code == 201, rival.text
    r = api.as_("translator").get(f"/api/v1/screens/{world['screen']}/timeline",
                                  params={"start": "2027-02-05T17:00:00Z", "end": "2027-02-06T17:00:00Z"})
    assert r.status_code == 200, r.text
    data = r.json()
    segments = data["segments"]
    assert segments[0]["start"].startswith("2027-02-05T17:00:00")
    assert segments[-1]["end"].startswith("2027-02-06T17:00:00")
    tet = segments[0]
    assert tet["lunar_date"] == "1/1" and tet["calendar_dates"] == ["âm lịch 1/1"] and tet["priority"] == 5
    assert tet["playlist_ids"] == [world["playlist"]]
    [conflict] = data["conflicts"]
    assert conflict["start"].startswith("2027-02-06T03:00:00")  # 10:00 local
    assert sorted(conflict["playlist_ids"]) == sorted([world["playlist"], world["empty_playlist"]])
    assert len(conflict["schedule_ids"]) == 2


def test_timeline_outside_any_rule_is_the_default_playlist(api: Api, world: dict[str, int]) -> None:
    # The world's weekday schedule runs Mon-Fri; 2026-03-07 is a Saturday (local).
    r = api.as_("translator").get(f"/api/v1/screens/{world['screen']}/timeline",
                                  params={"start": "2026-03-06T17:00:00Z", "end": "2026-03-07T17:00:00Z"})
    [segment] = r.json()["segments"]
    assert segment["is_default"] and segment["playlist_ids"] == [world["playlist"]] and segment["schedule_ids"] == []


@pytest.mark.parametrize(("params", "field"), [
    ({"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "end"),
    ({"start": "2026-03-01T00:00:00Z", "end": "2026-09-01T00:00:00Z"}, "end"),
    ({"start": "2026-03-01T00:00:00", "end": "2026-03-02T00:00:00Z"}, "start"),
])
def test_timeline_refuses_bad_ranges(api: Api, world: dict[str, int], params: dict[str, str], field: str) -> None:
    r = api.as_("translator").get(f"/api/v1/screens/{world['screen']}/timeline", params=params)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == field


def test_timeline_of_a_missing_screen_is_404(api: Api) -> None:
    r = api.as_("translator").get("/api/v1/screens/999999/timeline",
                                  params={"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"})
    assert r.status_code == 404
