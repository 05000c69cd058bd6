"""Timesheet computations (worklogs/timesheet.py): the week grid, edited cells, workday gaps; and the
timesheet page and cell saves that use them.

Personas: alice (Europe/Berlin) is admin of DEMO and logs work there; carol is a DEMO viewer (may not log);
bob is in OPS only (DEMO issues do not exist for him).
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from worklogs.models import Worklog
from worklogs.tests.conftest import BERLIN, MON, UTC, WEEK, at
from worklogs.timesheet import (
    CellChange,
    changed_cells,
    day_state,
    grid_json,
    timesheet_grid,
    week_days,
    workday_gaps,
)


def cell_map(response) -> dict[tuple[str, dt.date], int]:
    return {
        (row["key"], c["day"]): c["seconds"] for row in response.context["rows"] for c in row["cells"] if c["seconds"]
    }


def save(client, data: dict, *, json_reply: bool = True):
    headers = {"HTTP_ACCEPT": "application/json"} if json_reply else {}
    return client.post("/timesheet/save/", data, **headers)


def test_timesheet_requires_login(client):
    response = client.get("/timesheet/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_week_grid_totals_match_independent_sums(
    alice_client, alice, bob, demo_issue, demo_issue2, ops_issue, log_work
):
    logs = [
        (demo_issue, at(MON, 9), 3600),
        (demo_issue, at(MON, 14), 1800),
        (demo_issue2, at(MON, 10), 7200),
        (demo_issue, at(MON + dt.timedelta(days=2), 9), 5400),
        (demo_issue2, at(MON + dt.timedelta(days=6), 9), 900),
    ]
    for issue, started, seconds in logs:
        log_work(issue, alice, started, seconds)
    log_work(ops_issue, bob, at(MON, 9), 3600)  # bob's: never on alice's sheet
    log_work(demo_issue, alice, at(MON - dt.timedelta(days=1), 9), 600)  # previous week

    response = alice_client.get(f"/timesheet/?week={WEEK}")

    assert response.status_code == 200
    expected: dict[tuple[str, dt.date], int] = {}
    for issue, started, seconds in logs:
        key = (issue.key, started.astimezone(BERLIN).date())
        expected[key] = expected.get(key, 0) + seconds
    assert cell_map(response) == expected
    day_totals = {t["day"]: t["seconds"] for t in response.context["day_totals"]}
    assert day_totals[MON] == 3600 + 1800 + 7200
    assert day_totals[MON + dt.timedelta(days=2)] == 5400
    assert sum(day_totals.values()) == response.context["week_total"] == sum(s for _i, _d, s in logs)
    issue_totals = {r["key"]: r["total"] for r in response.context["rows"]}
    assert issue_totals == {demo_issue.key: 3600 + 1800 + 5400, demo_issue2.key: 7200 + 900}
    assert 'id="week-total">5h 15m<' in response.content.decode()


def test_day_boundaries_follow_profile_time_zone(alice_client, alice, demo_issue, log_work):
    # 23:30 Tuesday in Berlin is 22:30 UTC Tuesday; 00:30 Wednesday in Berlin is 23:30 UTC Tuesday.
    tue = MON + dt.timedelta(days=1)
    log_work(demo_issue, alice, at(tue, 23, 30), 1200)
    log_work(demo_issue, alice, at(tue, 22, 30, tz=UTC) + dt.timedelta(hours=1), 600)

    cells = cell_map(alice_client.get(f"/timesheet/?week={WEEK}"))

    assert cells == {(demo_issue.key, tue): 1200, (demo_issue.key, tue + dt.timedelta(days=1)): 600}


def test_sunday_2330_belongs_to_this_week_not_next(alice_client, alice, demo_issue, log_work):
    sun = MON + dt.timedelta(days=6)
    log_work(demo_issue, alice, at(sun, 23, 30), 1200)  # 22:30 UTC Sunday

    this_week = alice_client.get(f"/timesheet/?week={WEEK}")
    next_week = alice_client.get("/timesheet/?week=2026-W11")

    assert this_week.context["week_total"] == 1200
    assert next_week.context["week_total"] == 0


@pytest.mark.parametrize("query", ["week=2026-W60", "week=banana", "week=0000-W01", "date=2026-02-30", "target=9x"])
def test_bad_week_or_target_is_inline_message(alice_client, query):
    response = alice_client.get(f"/timesheet/?{query}")
    assert response.status_code == 200
    assert response.context["errors"]
    assert 'class="problems"' in response.content.decode()


def test_date_picker_and_prev_next_links(alice_client):
    response = alice_client.get("/timesheet/?date=2026-03-05")
    assert response.context["monday"] == MON
    assert response.context["prev_url"] == "?week=2026-W09"
    assert response.context["next_url"] == "?week=2026-W11"
    year_end = alice_client.get("/timesheet/?week=2026-W53")
    assert year_end.context["next_url"] == "?week=2027-W01"


def test_days_over_and_under_target_stand_out(alice_client, alice, demo_issue, log_work):
    log_work(demo_issue, alice, at(MON, 8), 9 * 3600)
    log_work(demo_issue, alice, at(MON + dt.timedelta(days=1), 8), 8 * 3600)
    log_work(demo_issue, alice, at(MON + dt.timedelta(days=5), 8), 3600)  # Saturday: over only if > target

    states = [t["state"] for t in alice_client.get(f"/timesheet/?week={WEEK}").context["day_totals"]]
    assert states == ["over", "", "under", "under", "under", "", ""]

    custom = [t["state"] for t in alice_client.get(f"/timesheet/?week={WEEK}&target=30m").context["day_totals"]]
    assert custom == ["over", "over", "under", "under", "under", "over", ""]


def test_cell_save_sets_total_and_reduces_estimate_automatically(alice_client, alice, demo_issue):
    wed = MON + dt.timedelta(days=2)
    name = f"t_{demo_issue.key}_{wed.isoformat()}"

    first = save(alice_client, {name: "1h 30m", f"o_{name[2:]}": "", "adjust_estimate": "auto", "target": "8h"})

    assert first.status_code == 200, first.content
    body = first.json()
    assert body["rows"][demo_issue.key]["cells"][wed.isoformat()] == "1h 30m"
    assert body["week_total"] == "1h 30m"
    assert body["day_totals"][wed.isoformat()] == {"text": "1h 30m", "state": "under"}
    demo_issue.refresh_from_db()
    assert (demo_issue.time_spent, demo_issue.remaining_estimate) == (5400, 10 * 3600 - 5400)
    log = Worklog.objects.get(issue=demo_issue)
    assert log.started.astimezone(BERLIN) == at(wed, 9)

    save(alice_client, {name: "45m", f"o_{name[2:]}": "1h 30m", "adjust_estimate": "auto"})
    demo_issue.refresh_from_db()
    assert (demo_issue.time_spent, demo_issue.remaining_estimate) == (2700, 10 * 3600 - 2700)

    # Clearing the cell would delete the worklog: asked first, nothing changes until confirmed.
    asked = save(alice_client, {name: "", f"o_{name[2:]}": "45m", "adjust_estimate": "auto"})
    assert asked.status_code == 409
    assert Worklog.objects.filter(issue=demo_issue).exists()
    token = asked.json()["confirm"][0]["token"]
    save(alice_client, {name: "", f"o_{name[2:]}": "45m", f"c_{name[2:]}": token, "adjust_estimate": "auto"})
    demo_issue.refresh_from_db()
    assert (demo_issue.time_spent, demo_issue.remaining_estimate) == (0, 10 * 3600)
    assert not Worklog.objects.filter(issue=demo_issue).exists()


def test_raising_a_cell_adds_a_worklog_and_lowering_asks_before_deleting(alice_client, alice, demo_issue, log_work):
    log_work(demo_issue, alice, at(MON, 9), 3600, comment="morning")
    log_work(demo_issue, alice, at(MON, 13), 1800, comment="afternoon")
    name = f"{demo_issue.key}_{MON.isoformat()}"

    save(alice_client, {f"t_{name}": "2h", f"o_{name}": "1h 30m", "adjust_estimate": "leave"})
    logs = list(Worklog.objects.filter(issue=demo_issue).order_by("started"))
    assert [w.time_spent for w in logs] == [3600, 1800, 1800]
    assert logs[2].started.astimezone(BERLIN) == at(MON, 13, 30)  # right after the last one

    # Lowering to 45m would delete two worklogs and shrink one: a 409 lists them and nothing changes.
    asked = save(alice_client, {f"t_{name}": "45m", f"o_{name}": "2h", "adjust_estimate": "leave"})
    assert asked.status_code == 409
    reply = asked.json()
    assert reply["ok"] is False and "confirm" in reply["message"].lower()
    (pending,) = reply["confirm"]
    assert pending["cell"] == f"t_{name}" and pending["total"] == "45m"
    assert [(w["time_spent"], w["after"]) for w in pending["worklogs"]] == [("30m", ""), ("30m", ""), ("1h", "45m")]
    assert all(w["edit"].startswith(f"/browse/{demo_issue.key}/worklogs/") for w in pending["worklogs"])
    assert Worklog.objects.filter(issue=demo_issue).count() == 3

    confirmed = save(
        alice_client, {f"t_{name}": "45m", f"o_{name}": "2h", f"c_{name}": pending["token"], "adjust_estimate": "leave"}
    )
    assert confirmed.status_code == 200
    assert list(Worklog.objects.filter(issue=demo_issue).order_by("started").values_list("comment", "time_spent")) == [
        ("morning", 2700)
    ]
    demo_issue.refresh_from_db()
    assert demo_issue.time_spent == 2700
    assert demo_issue.remaining_estimate == 10 * 3600  # leave: untouched


def test_lowering_without_javascript_shows_a_confirmation_page(alice_client, alice, demo_issue, log_work):
    log_work(demo_issue, alice, at(MON, 9), 3600, comment="morning")
    log_work(demo_issue, alice, at(MON, 13), 1800, comment="afternoon")
    name = f"{demo_issue.key}_{MON.isoformat()}"

    page = save(alice_client, {f"t_{name}": "", f"o_{name}": "1h 30m"}, json_reply=False)

    assert page.status_code == 200
    html = page.content.decode()
    assert "would delete" in html and "afternoon" in html and "morning" in html
    assert f'name="c_{name}"' in html  # the confirm button re-posts the cell with the plan's token
    assert Worklog.objects.filter(issue=demo_issue).count() == 2


@pytest.mark.parametrize(
    ("mode", "extra", "remaining"),
    [
        ("leave", {}, 10 * 3600),
        ("new", {"new_estimate": "3h"}, 3 * 3600),
        ("manual", {"reduce_by": "4h"}, 6 * 3600),
        ("auto", {}, 9 * 3600),
    ],
)
def test_log_form_exposes_adjust_estimate_modes(alice_client, demo_issue, mode, extra, remaining):
    response = save(
        alice_client,
        {"issue": demo_issue.key.lower(), "day": MON.isoformat(), "time": "1h", "adjust_estimate": mode, **extra},
        json_reply=False,
    )
    assert response.status_code == 302
    assert response["Location"] == f"/timesheet/?week={WEEK}"
    demo_issue.refresh_from_db()
    assert (demo_issue.time_spent, demo_issue.remaining_estimate) == (3600, remaining)


def test_new_estimate_mode_needs_a_value(alice_client, demo_issue):
    response = save(
        alice_client, {"issue": demo_issue.key, "day": MON.isoformat(), "time": "1h", "adjust_estimate": "new"}
    )
    assert response.status_code == 400
    assert "new remaining estimate" in response.json()["errors"][0]["message"]
    assert not Worklog.objects.exists()


def test_log_form_adds_to_the_day(alice_client, alice, demo_issue, log_work):
    log_work(demo_issue, alice, at(MON, 9), 3600)
    save(alice_client, {"issue": demo_issue.key, "day": MON.isoformat(), "time": "30m", "comment": "review"})
    assert sorted(Worklog.objects.values_list("time_spent", flat=True)) == [1800, 3600]
    assert Worklog.objects.get(time_spent=1800).comment == "review"


@pytest.mark.parametrize("value", ["1x", "25h", "-1h", "abc"])
def test_bad_cell_value_is_a_message_and_saves_nothing(alice_client, demo_issue, value):
    name = f"{demo_issue.key}_{MON.isoformat()}"
    response = save(alice_client, {f"t_{name}": value, f"o_{name}": ""})
    assert response.status_code == 400
    assert response.json()["errors"]
    assert not Worklog.objects.exists()


def test_bad_cell_without_javascript_redirects_with_message(alice_client, demo_issue):
    name = f"{demo_issue.key}_{MON.isoformat()}"
    response = save(alice_client, {f"t_{name}": "1x", f"o_{name}": ""}, json_reply=False)
    assert response.status_code == 302
    page = alice_client.get(response["Location"])
    assert "is not understood" in page.content.decode() or "unknown unit" in page.content.decode()


def test_viewer_cannot_log_time(client, carol, demo_issue):
    # carol sees DEMO but is a viewer: logging is refused with a message, nothing is written.
    client.force_login(carol)
    response = save(client, {"issue": demo_issue.key, "day": MON.isoformat(), "time": "1h"})
    assert response.status_code == 400
    assert "may not log work" in response.json()["errors"][0]["message"]
    assert not Worklog.objects.exists()


def test_other_projects_issue_is_like_a_missing_one(client, bob, demo_issue):
    # bob is in OPS only: DEMO-1 answers exactly like DEMO-999.
    client.force_login(bob)
    hidden = save(client, {"issue": demo_issue.key, "day": MON.isoformat(), "time": "1h"}).json()
    missing = save(client, {"issue": "DEMO-999", "day": MON.isoformat(), "time": "1h"}).json()
    assert hidden["message"] == missing["message"].replace("DEMO-999", demo_issue.key)
    assert [e["message"] for e in hidden["errors"]] == [
        e["message"].replace("DEMO-999", demo_issue.key) for e in missing["errors"]
    ]
    assert not Worklog.objects.exists()


def test_timesheet_hides_worklogs_of_projects_left(alice_client, alice, demo_issue, ops_issue, log_work):
    # alice once logged on OPS (e.g. before leaving it): that time is not shown without membership.
    log_work(ops_issue, alice, at(MON, 9), 3600)
    log_work(demo_issue, alice, at(MON, 11), 1800)
    response = alice_client.get(f"/timesheet/?week={WEEK}")
    assert response.context["week_total"] == 1800


def test_timesheet_query_count_does_not_grow_with_rows(
    alice_client, alice, project_a, make_issue, log_work, django_assert_max_num_queries
):
    for n in range(12):
        issue = make_issue(project_a, summary=f"Issue {n}")
        for d in range(5):
            log_work(issue, alice, at(MON + dt.timedelta(days=d), 9), 600 + n)
    with django_assert_max_num_queries(6):
        response = alice_client.get(f"/timesheet/?week={WEEK}")
    assert len(response.context["rows"]) == 12


def test_json_reply_is_valid_json_with_rows(alice_client, demo_issue):
    name = f"{demo_issue.key}_{MON.isoformat()}"
    response = save(alice_client, {f"t_{name}": "2h", f"o_{name}": ""})
    assert json.loads(response.content)["rows"][demo_issue.key]["total"] == "2h"


def test_week_with_daylight_saving_change(alice_client, alice, demo_issue, log_work):
    # Berlin moves to summer time on Sun 29 Mar 2026: 23:30 local that day is 21:30 UTC, not 22:30.
    sun = dt.date(2026, 3, 29)
    log_work(demo_issue, alice, at(sun, 23, 30), 600)
    log_work(demo_issue, alice, at(sun, 0, 30), 900)  # 23:30 UTC Saturday
    response = alice_client.get("/timesheet/?week=2026-W13")
    assert cell_map(response) == {(demo_issue.key, sun): 1500}


# --- the grid and cell parsing, without a database --------------------------------------------------------


def cell(issue_id: int, key: str, day: dt.date, total: int, **issue) -> dict:
    return {
        "issue_id": issue_id,
        "issue__key": key,
        "issue__summary": issue.get("summary", key.lower()),
        "issue__original_estimate": issue.get("original"),
        "issue__remaining_estimate": issue.get("remaining"),
        "day": day,
        "total": total,
    }


def test_week_days_are_monday_to_sunday():
    days = week_days(MON)
    assert days[0] == MON and days[-1] == dt.date(2026, 3, 8) and len(days) == 7
    assert [d.weekday() for d in days] == list(range(7))


@pytest.mark.parametrize(
    ("day", "seconds", "state"),
    [
        (MON, 8 * 3600, ""),
        (MON, 8 * 3600 + 60, "over"),
        (MON, 3600, "under"),
        (dt.date(2026, 3, 7), 0, ""),  # Saturday: no target to fall short of
        (dt.date(2026, 3, 8), 9 * 3600, "over"),  # Sunday work over the target still stands out
    ],
)
def test_day_state_against_the_target(day, seconds, state):
    assert day_state(day, seconds, 8 * 3600) == state


def test_grid_sums_cells_per_issue_and_day_in_key_order():
    days = week_days(MON)
    tue = MON + dt.timedelta(days=1)
    cells = [
        cell(10, "DEMO-10", MON, 600),
        cell(2, "DEMO-2", tue, 3600, remaining=7200, original=9000),
        cell(10, "DEMO-10", MON, 1200),  # a second row for the same day (two projects' zones, same local day)
        cell(2, "DEMO-2", MON, 1800, remaining=7200, original=9000),
    ]
    grid = timesheet_grid(cells, days=days, target=3000)
    assert [r["key"] for r in grid["rows"]] == ["DEMO-2", "DEMO-10"]  # numeric, not text, order
    demo2, demo10 = grid["rows"]
    assert [c["seconds"] for c in demo2["cells"]] == [1800, 3600, 0, 0, 0, 0, 0]
    assert [c["text"] for c in demo2["cells"]][:3] == ["30m", "1h", ""]
    assert demo2["total"] == 5400 and (demo2["original"], demo2["remaining"]) == (9000, 7200)
    assert demo10["total"] == 1800 and demo10["cells"][0]["text"] == "30m"
    totals = {t["day"]: (t["seconds"], t["state"]) for t in grid["day_totals"]}
    assert totals[MON] == (1800 + 1800, "over")
    assert totals[tue] == (3600, "over")
    assert totals[MON + dt.timedelta(days=2)] == (0, "under")
    assert grid["week_total"] == 1800 + 3600 + 600 + 1200
    assert grid["days"] == days


def test_empty_week_grid_has_zero_totals():
    grid = timesheet_grid([], days=week_days(MON), target=8 * 3600)
    assert grid["rows"] == [] and grid["week_total"] == 0
    assert [t["text"] for t in grid["day_totals"]] == ["0m"] * 7


def test_grid_json_is_keyed_by_issue_and_iso_day():
    grid = timesheet_grid([cell(1, "DEMO-1", MON, 5400, remaining=1800)], days=week_days(MON), target=8 * 3600)
    reply = grid_json(grid)
    assert reply["ok"] is True and reply["week_total"] == "1h 30m"
    assert reply["rows"]["DEMO-1"]["cells"]["2026-03-02"] == "1h 30m"
    assert reply["rows"]["DEMO-1"]["cells"]["2026-03-03"] == ""
    assert reply["rows"]["DEMO-1"]["total"] == "1h 30m" and reply["rows"]["DEMO-1"]["remaining"] == "30m"
    assert reply["day_totals"]["2026-03-02"] == {"text": "1h 30m", "state": "under"}
    json.dumps(reply)  # what the view sends must be plain JSON


def test_changed_cells_keeps_only_cells_that_differ_from_what_was_shown():
    data = {
        "t_DEMO-1_2026-03-02": "2h",
        "o_DEMO-1_2026-03-02": "1h",
        "t_DEMO-1_2026-03-03": " 1h ",  # unchanged apart from spaces
        "o_DEMO-1_2026-03-03": "1h",
        "t_DEMO-2_2026-03-04": "",  # cleared: a total of zero
        "o_DEMO-2_2026-03-04": "30m",
        "t_DEMO-3_2026-03-05": "45m",  # no o_ field: the cell was empty
        "issue": "DEMO-9",  # the log-work form is not a cell
    }
    changes, errors = changed_cells(data)
    assert errors == []
    assert changes == [
        CellChange(key="DEMO-1", day=MON, total=7200),
        CellChange(key="DEMO-2", day=dt.date(2026, 3, 4), total=0),
        CellChange(key="DEMO-3", day=dt.date(2026, 3, 5), total=2700),
    ]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("t_DEMO-1_2026-02-30", "1h", "DEMO-1: '2026-02-30' is not a day of a timesheet week."),
        ("t_DEMO-1_0999-01-01", "1h", "DEMO-1: '0999-01-01' is not a day of a timesheet week."),
        ("t_DEMO-1", "1h", ": 'DEMO-1' is not a day of a timesheet week."),  # no day: nothing to name
        ("t_DEMO-1_2026-03-02", "lots", "DEMO-1 on Mon 02 Mar: "),
    ],
)
def test_changed_cells_reports_what_does_not_parse(name, value, message):
    changes, errors = changed_cells({name: value})
    assert changes == []
    assert len(errors) == 1 and errors[0].startswith(message)


def gaps_of(rows, **kwargs):
    options = {
        "authors": [(1, "Alice")],
        "start": MON,
        "end": MON,
        "tz": BERLIN,
        "workday_start": dt.time(9),
        "workday_end": dt.time(17),
        "today": MON + dt.timedelta(days=30),
    }
    return [(g["author_id"], g["start"], g["end"]) for g in workday_gaps(rows, **{**options, **kwargs})]


def logged(author_id: int, day: dt.date, start: int, end: int) -> dict:
    return {"author_id": author_id, "started_local": at(day, start), "ended_local": at(day, end)}


def test_gaps_between_and_around_worklogs():
    rows = [logged(1, MON, 10, 11), logged(1, MON, 13, 14)]
    assert gaps_of(rows) == [
        (1, at(MON, 9), at(MON, 10)),
        (1, at(MON, 11), at(MON, 13)),
        (1, at(MON, 14), at(MON, 17)),
    ]


def test_overlapping_and_out_of_hours_worklogs_leave_no_false_gaps():
    rows = [logged(1, MON, 7, 10), logged(1, MON, 9, 12), logged(1, MON, 11, 18)]
    assert gaps_of(rows) == []


def test_gaps_per_author_skip_weekends_and_stop_today():
    sat, tue = dt.date(2026, 3, 7), MON + dt.timedelta(days=1)
    rows = [logged(1, MON, 9, 17)]
    found = gaps_of(rows, authors=[(1, "Alice"), (2, "Dave")], end=sat + dt.timedelta(days=1), today=tue)
    assert found == [(2, at(MON, 9), at(MON, 17)), (1, at(tue, 9), at(tue, 17)), (2, at(tue, 9), at(tue, 17))]


def test_gaps_under_a_minute_are_left_out():
    rows = [
        {"author_id": 1, "started_local": at(MON, 9), "ended_local": at(MON, 12) - dt.timedelta(seconds=30)},
        logged(1, MON, 12, 17),
    ]
    assert gaps_of(rows) == []
    (gap,) = workday_gaps(
        [logged(1, MON, 9, 16)],
        authors=[(1, "Alice")],
        start=MON,
        end=MON,
        tz=BERLIN,
        workday_start=dt.time(9),
        workday_end=dt.time(17),
        today=MON,
    )
    assert (gap["author"], gap["seconds"], gap["text"]) == ("Alice", 3600, "1h")


# --- gaps on the worklog list page ---------------------------------------------------------------------------


def test_gaps_inside_the_workday(alice_client, alice, demo_issue, log_work):
    log_work(demo_issue, alice, at(MON, 9), 3600)
    log_work(demo_issue, alice, at(MON, 11), 3600)
    response = alice_client.get("/worklogs/?start=2026-03-02&end=2026-03-02&gaps=1&user=alice")
    gaps = [(e["start"].time(), e["end"].time()) for e in response.context["entries"] if e["kind"] == "gap"]
    assert gaps == [(dt.time(10), dt.time(11)), (dt.time(12), dt.time(17))]
    custom = alice_client.get(
        "/worklogs/?start=2026-03-02&end=2026-03-02&gaps=1&user=alice&workday_start=08:00&workday_end=12:00"
    )
    gaps = [(e["start"].time(), e["end"].time()) for e in custom.context["entries"] if e["kind"] == "gap"]
    assert gaps == [(dt.time(8), dt.time(9)), (dt.time(10), dt.time(11))]
    assert "Unlogged" in custom.content.decode()


def test_gaps_cover_weekdays_without_any_worklog(alice_client, alice, demo_issue, log_work):
    log_work(demo_issue, alice, at(MON, 9), 8 * 3600)
    response = alice_client.get("/worklogs/?start=2026-03-02&end=2026-03-03&gaps=1&user=alice")
    gaps = [(e["start"].date(), e["seconds"]) for e in response.context["entries"] if e["kind"] == "gap"]
    assert gaps == [(MON + dt.timedelta(days=1), 8 * 3600)]


def test_busy_week_shows_bounded_pages_of_rows_with_all_in_the_totals(
    alice_client, alice, project_a, make_issue, log_work, settings
):
    settings.TASKRA_TIMESHEET_ROWS = 5
    for n in range(12):
        log_work(make_issue(project_a, summary=f"Issue {n}"), alice, at(MON, 9), 600)
    first = alice_client.get(f"/timesheet/?week={WEEK}")
    assert [r["key"] for r in first.context["rows"]] == [f"DEMO-{n}" for n in range(1, 6)]
    assert first.context["week_total"] == 12 * 600  # every row counts, shown or not
    assert "Issues 1–5 of 12" in first.text and "7 more issues →" in first.text
    last = alice_client.get("/timesheet/" + first.context["rows_after_url"])
    assert [r["key"] for r in last.context["rows"]] == [f"DEMO-{n}" for n in range(6, 11)]
    beyond = alice_client.get(f"/timesheet/?week={WEEK}&page=99")  # past the end: the last page
    assert [r["key"] for r in beyond.context["rows"]] == ["DEMO-11", "DEMO-12"]
    assert alice_client.get(f"/timesheet/?week={WEEK}&page=0").context["errors"]  # a clear message, not a 500


def test_timesheet_reads_no_worklog_outside_the_week(alice_client, alice, demo_issue, log_work):
    # 10,000 of alice's worklogs in the weeks before: the grid's query reaches the week through the
    # (author, started) index, so the database reads the week's rows and none of those.
    before = at(MON - dt.timedelta(days=400), 9)
    Worklog.objects.bulk_create(
        Worklog(
            issue=demo_issue,
            author=alice,
            started=before + dt.timedelta(minutes=50 * n),
            time_spent=60,
            created=before,
            updated=before,
        )
        for n in range(10_000)
    )
    log_work(demo_issue, alice, at(MON, 9), 1800)
    with CaptureQueriesContext(connection) as ctx:
        response = alice_client.get(f"/timesheet/?week={WEEK}")
    assert response.context["week_total"] == 1800
    (grid_sql,) = [q["sql"] for q in ctx.captured_queries if "SUM(" in q["sql"] and "worklogs_worklog" in q["sql"]]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + grid_sql)
            plan = json.dumps(cursor.fetchone()[0])
            assert "worklog_author_started" in plan
            scans = re.findall(r'"Relation Name": "worklogs_worklog".*?"Actual Rows": (\d+)', plan, re.S)
            assert scans == ["1"]  # one worklog read: the week's
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + grid_sql)
            plan = " ".join(str(row) for row in cursor.fetchall())
            assert re.search(r"worklogs_worklog USING INDEX worklog_author_started \(author_id=\? AND started>", plan)
