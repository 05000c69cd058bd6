"""Boards and the home page in headless Chromium: drag, keyboard moves, WIP limits, a viewer's board, home.

Personas: alice (admin of DEMO) moves cards; carol (viewer in DEMO) sees the board but cannot move anything.
Screenshots: docs/screenshots/board.png and home.png.
Run: .venv/bin/pytest issues/tests/test_e2e_boards.py -q -m e2e
"""

from __future__ import annotations

import importlib
import re

import pytest
from playwright.sync_api import expect

from conftest import SCREENSHOTS as SHOTS

pytestmark = pytest.mark.e2e


@pytest.fixture
def board_demo(transactional_db, alice, carol, project_a, make_issue):
    """DEMO with three cards in To Do (the first assigned to alice) and a WIP limit of 2 on In Progress."""
    from django.apps import apps

    from issues.models import Status
    from issues.tests.conftest import reset_all
    from issues.workflows import TransitionSpec, workflow_update

    reset_all()
    importlib.import_module("issues.migrations.0002_jira_defaults").seed(apps, None)
    statuses = [Status.objects.get(name=n) for n in ("To Do", "In Progress", "Done")]
    workflow_update(
        project=project_a,
        actor=None,
        steps=[(statuses[0], None), (statuses[1], 2), (statuses[2], None)],
        transitions=[TransitionSpec(None, s) for s in statuses],
    )
    cards = [
        make_issue(project_a, summary="Fix the login form", assignee=alice),
        make_issue(project_a, summary="Write release notes"),
        make_issue(project_a, summary="Dark mode for the board"),
    ]
    return cards, {s.name: s.pk for s in statuses}


def _login(page, base: str, path: str, username: str, password: str) -> None:
    page.goto(f"{base}{path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}{path}")


def test_drag_keyboard_wip_and_home(plain_http_server, browser, board_demo):
    cards, status = board_demo
    base = plain_http_server.url
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, base, "/projects/DEMO/board/", "alice", "alice-pass-123")
    in_progress = f".board-cards[data-status='{status['In Progress']}']"
    progress_head = page.locator(f".board-column-head[data-status='{status['In Progress']}']")

    # Drag a card to another column: it moves at once and is still there after a reload.
    page.drag_and_drop(f"#card-{cards[0].key}", in_progress)
    expect(page.locator("#board-status")).to_contain_text(f"{cards[0].key} moved to In Progress")
    page.reload()
    expect(page.locator(f"{in_progress} #card-{cards[0].key}")).to_be_visible()

    # The keyboard: focus a card, Shift+Right moves it to the next column.
    page.locator(f"#card-{cards[1].key}").focus()
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator(f"{in_progress} #card-{cards[1].key}")).to_be_visible()
    expect(progress_head).not_to_have_class(re.compile("over-wip"))  # 2 cards, limit 2

    # A third card exceeds the WIP limit of 2: the column turns red without a reload, and after one.
    page.drag_and_drop(f"#card-{cards[2].key}", in_progress)
    expect(progress_head).to_have_class(re.compile("over-wip"))
    page.reload()
    expect(progress_head).to_have_class(re.compile("over-wip"))
    expect(progress_head).to_contain_text("over the WIP limit")
    page.screenshot(path=str(SHOTS / "board.png"))

    # Home: the user's own open issue, their week and their boards.
    page.goto(f"{base}/")
    expect(page.locator("#h-open + ul")).to_contain_text(cards[0].key)
    expect(page.get_by_role("link", name="DEMO board")).to_be_visible()
    page.screenshot(path=str(SHOTS / "home.png"))
    assert errors == []


def test_viewer_cannot_drag(plain_http_server, browser, board_demo):
    cards, status = board_demo
    base = plain_http_server.url
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    _login(page, base, "/projects/DEMO/board/", "carol", "carol-pass-123")
    expect(page.locator(".board-card")).to_have_count(3)
    expect(page.locator(".board-card[draggable=true]")).to_have_count(0)
    page.drag_and_drop(f"#card-{cards[0].key}", f".board-cards[data-status='{status['Done']}']")
    page.locator(f"#card-{cards[0].key}").focus()
    page.keyboard.press("Shift+ArrowRight")
    expect(page.locator("#board-status")).to_contain_text("only members can move cards")
    page.reload()
    expect(page.locator(f".board-cards[data-status='{status['To Do']}'] #card-{cards[0].key}")).to_be_visible()
