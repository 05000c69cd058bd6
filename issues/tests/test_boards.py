"""Boards: the first view (columns, lanes, WIP, paging), card moves (status + rank) and their refusals.

Personas: alice admin of DEMO (project_a), carol viewer in DEMO, bob member of OPS (project_b) only.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from issues.boards import BOARD_PAGE
from issues.jql import jql_queryset
from issues.models import Issue, Status
from issues.services import saved_filter_create
from issues.workflows import TransitionSpec, workflow_for, workflow_update


def _status(name: str) -> Status:
    return Status.objects.get(name=name)


def _move(client, issue, status, *, after=None, before=None, key="DEMO", **extra):
    data = {"issue": issue.key, "status": status.pk, **extra}
    if after is not None:
        data["after"] = after.key
    if before is not None:
        data["before"] = before.key
    return client.post(reverse("issues:board_move", args=[key]), data)


def _column(status_name: str) -> list[str]:
    in_order = Issue.objects.filter(status__name=status_name).order_by(F("rank").asc(nulls_last=True), "id")
    return list(in_order.values_list("key", flat=True))


@pytest.fixture
def cards(project_a, make_issue):
    return [make_issue(project_a, summary=f"Card {i}") for i in range(4)]


def test_board_shows_columns_in_workflow_order_with_cards(cards, client, alice, django_assert_max_num_queries):
    client.force_login(alice)
    # Session, user, membership, workflow (2), counts, cards, labels: a fixed number whatever the board's size.
    with django_assert_max_num_queries(12):
        response = client.get(reverse("issues:board", args=["DEMO"]))
    body = response.content.decode()
    assert response.status_code == 200
    heads = [body.index(f">{name}</h2>") for name in ("To Do", "In Progress", "In Review", "Done")]
    assert heads == sorted(heads)
    assert all(f'data-key="{c.key}"' in body for c in cards)
    assert 'data-can-move="1"' in body and 'draggable="true"' in body


def test_board_query_count_does_not_grow_with_cards(project_a, make_issue, client, alice, django_assert_num_queries):
    make_issue(project_a)
    make_issue(project_a, assignee=alice)  # two lanes: unassigned and Alice (the lane names cost one query)
    client.force_login(alice)
    url = reverse("issues:board", args=["DEMO"]) + "?lanes=assignee"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(5):
        make_issue(project_a, assignee=alice)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(url)


def test_viewer_sees_the_board_but_cannot_move(cards, client, carol):
    client.force_login(carol)
    body = client.get(reverse("issues:board", args=["DEMO"])).content.decode()
    assert 'draggable="true"' not in body and "data-can-move" not in body
    response = _move(client, cards[0], _status("In Progress"))
    assert response.status_code == 403
    assert response.json() == {"error": "Viewers cannot move cards."}
    assert Issue.objects.get(pk=cards[0].pk).status.name == "To Do"


def test_outsider_gets_404_for_the_board_its_cards_and_moves(cards, client, bob):
    client.force_login(bob)
    assert client.get(reverse("issues:board", args=["DEMO"])).status_code == 404
    assert client.get(reverse("issues:board_cards", args=["DEMO"]), {"status": 1}).status_code == 404
    assert _move(client, cards[0], _status("Done")).status_code == 404


def test_move_changes_status_and_places_the_card(cards, client, alice):
    client.force_login(alice)
    done = _status("Done")
    assert _move(client, cards[0], done).status_code == 200
    assert _move(client, cards[1], done, before=cards[0]).status_code == 200  # on top of it
    assert _move(client, cards[2], done, after=cards[1], before=cards[0]).status_code == 200  # between
    assert _column("Done") == [cards[1].key, cards[2].key, cards[0].key]
    moved = Issue.objects.get(pk=cards[0].pk)
    assert moved.resolution is not None  # through issue_update: Done resolves
    assert moved.history.filter(field="status").exists()


def test_move_within_a_column_ranks_unranked_cards_in_place(cards, client, alice):
    client.force_login(alice)
    todo = _status("To Do")
    # cards[3] between cards[0] and cards[1]; the never-moved cards keep their order around it.
    response = _move(client, cards[3], todo, after=cards[0], before=cards[1])
    assert response.status_code == 200, response.content
    assert _column("To Do") == [cards[0].key, cards[3].key, cards[1].key, cards[2].key]
    keys = list(jql_queryset("project = DEMO ORDER BY rank", user=alice).values_list("key", flat=True))
    assert keys == [cards[0].key, cards[3].key, cards[1].key, cards[2].key]


def test_moves_rebalance_when_a_gap_runs_out(cards, client, alice):
    client.force_login(alice)
    todo = _status("To Do")
    Issue.objects.filter(pk=cards[0].pk).update(rank=10)
    Issue.objects.filter(pk=cards[1].pk).update(rank=11)
    assert _move(client, cards[2], todo, after=cards[0], before=cards[1]).status_code == 200
    assert _column("To Do")[:3] == [cards[0].key, cards[2].key, cards[1].key]


def test_stale_position_is_a_409(cards, client, alice):
    client.force_login(alice)
    todo = _status("To Do")
    # cards[0] and cards[2] are not neighbours (cards[1] is between them): the client's board is out of date.
    response = _move(client, cards[3], todo, after=cards[0], before=cards[2])
    assert response.status_code == 409
    assert "no longer next to each other" in response.json()["error"]
    # A neighbour that left the column is stale too.
    response = _move(client, cards[3], _status("Done"), after=cards[0])
    assert response.status_code == 409


def test_workflow_refusal_on_the_board_is_a_400_with_the_reason(cards, client, alice, project_a):
    todo, done = _status("To Do"), _status("Done")
    workflow_update(
        project=project_a, actor=None, steps=[(todo, None), (done, None)], transitions=[TransitionSpec(done, todo)]
    )
    client.force_login(alice)
    response = _move(client, cards[0], done)
    assert response.status_code == 400
    assert response.json() == {"error": "DEMO's workflow does not allow moving from To Do to Done."}
    assert Issue.objects.get(pk=cards[0].pk).rank is None  # nothing of the move was written


def test_bad_move_input_is_a_400(cards, client, alice):
    client.force_login(alice)
    url = reverse("issues:board_move", args=["DEMO"])
    assert client.post(url, {"issue": cards[0].key, "status": "x"}).json() == {"error": "Give the status as a number."}
    assert client.post(url, {"issue": "NOPE-1", "status": _status("Done").pk}).status_code == 404
    response = client.post(url, {"issue": cards[0].key, "status": _status("Done").pk, "lanes": "colour"})
    assert response.status_code == 400


def test_wip_limit_exceeded_marks_the_column(cards, client, alice, project_a):
    workflow = workflow_for(project_a)
    workflow_update(
        project=project_a,
        actor=None,
        steps=[(Status.objects.get(pk=s.status_id), 3 if s.name == "To Do" else None) for s in workflow.steps],
        transitions=[TransitionSpec(None, Status.objects.get(pk=s.status_id)) for s in workflow.steps],
    )
    client.force_login(alice)
    body = client.get(reverse("issues:board", args=["DEMO"])).content.decode()
    assert 'board-column-head over-wip" data-status' in body and "/ max 3" in body


def test_columns_page_on_scroll_with_keyset_cursors(project_a, make_issue, client, alice):
    made = [make_issue(project_a, summary=f"Card {i}") for i in range(BOARD_PAGE + 3)]
    client.force_login(alice)
    body = client.get(reverse("issues:board", args=["DEMO"])).content.decode()
    assert f'data-key="{made[BOARD_PAGE - 1].key}"' in body and f'data-key="{made[BOARD_PAGE].key}"' not in body
    cursor = body.split('class="secondary small-button load-more" data-cursor="', 1)[1].split('"', 1)[0]
    page = client.get(reverse("issues:board_cards", args=["DEMO"]), {"status": _status("To Do").pk, "cursor": cursor})
    data = page.json()
    assert data["next"] is None
    assert [m.key for m in made[BOARD_PAGE:]] == [k.split('"')[0] for k in data["html"].split('data-key="')[1:]]
    bad = client.get(reverse("issues:board_cards", args=["DEMO"]), {"status": _status("To Do").pk, "cursor": "zz"})
    assert bad.status_code == 400


def test_quick_filters_and_swimlanes(project_a, make_issue, client, alice):
    mine = make_issue(project_a, assignee=alice, summary="Mine", labels=["ui"])
    other = make_issue(project_a, summary="Nobody's")
    client.force_login(alice)
    url = reverse("issues:board", args=["DEMO"])
    body = client.get(url, {"mine": "1"}).content.decode()
    assert mine.key in body and other.key not in body
    body = client.get(url, {"label": "ui"}).content.decode()
    assert mine.key in body and other.key not in body
    body = client.get(url, {"lanes": "assignee"}).content.decode()
    assert "Swimlane Alice Adams" in body and "Swimlane No assignee" in body


def test_filter_board_uses_the_saved_query_and_its_owner_rules(cards, client, alice, bob):
    saved = saved_filter_create(owner=alice, name="Two", jql=f"key in ({cards[0].key}, {cards[1].key})")
    client.force_login(alice)
    body = client.get(reverse("issues:filter_board", args=[saved.pk])).content.decode()
    assert cards[0].key in body and cards[2].key not in body
    response = client.post(
        reverse("issues:filter_board_move", args=[saved.pk]), {"issue": cards[0].key, "status": _status("Done").pk}
    )
    assert response.status_code == 200
    client.force_login(bob)  # a private filter of someone else: not found
    assert client.get(reverse("issues:filter_board", args=[saved.pk])).status_code == 404
