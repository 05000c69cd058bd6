"""Boards: /projects/<KEY>/board/ and /filters/<id>/board/, their card pages (scroll) and card moves (drag, keys).

Same permission rules as the issue page: a project (or filter) the user cannot see is a 404, a viewer sees the
board but cannot move cards (403 with a message; the page offers no dragging). A move is one small POST
(issues.ranking.issue_move: the status through issue_update and the workflow's rule, then the rank) and one
page-cache bump at commit; the client moves the card itself, nothing is re-rendered.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from issues.boards import (
    LANES,
    BadBoardInput,
    BoardSource,
    QuickFilters,
    board_cards_page,
    board_column_queryset,
    board_view,
    filter_board_source,
    project_board_source,
)
from issues.jql import JQLError
from issues.models import Issue, Label, Status
from issues.permissions import can_admin_in
from issues.ranking import StalePosition, issue_move
from issues.selectors import saved_filter_for_user
from issues.views.workflow import project_or_404


def _source(request: HttpRequest, key: str | None, filter_id: int | None) -> BoardSource:
    if key is not None:
        project, role = project_or_404(request, key)
        source = project_board_source(project=project, user=request.user)
        source.is_admin = can_admin_in(role)
        return source
    saved = saved_filter_for_user(user=request.user, pk=filter_id)
    if saved is None:
        raise Http404("No such filter.")
    try:
        return filter_board_source(saved_filter=saved, user=request.user)
    except JQLError as exc:
        raise Http404(f"The filter's query no longer works: {exc.message}") from exc


def _urls(source: BoardSource) -> dict[str, str]:
    if source.project is not None:
        args = [source.project.key]
        return {
            "board": reverse("issues:board", args=args),
            "cards": reverse("issues:board_cards", args=args),
            "move": reverse("issues:board_move", args=args),
        }
    assert source.saved_filter is not None
    args_f = [source.saved_filter.pk]
    return {
        "board": reverse("issues:filter_board", args=args_f),
        "cards": reverse("issues:filter_board_cards", args=args_f),
        "move": reverse("issues:filter_board_move", args=args_f),
    }


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_GET
def board(request: HttpRequest, key: str | None = None, filter_id: int | None = None) -> HttpResponse:
    """Show a board: columns by status in workflow order, optional swimlanes, the first cards of each column."""
    source = _source(request, key, filter_id)
    try:
        quick = QuickFilters.from_query(request.GET)
    except BadBoardInput as exc:
        return render(request, "issues/board_error.html", {"message": str(exc)}, status=400)
    data = board_view(source=source, quick=quick, user=request.user, now=timezone.now())
    urls = _urls(source)
    context = {
        "source": source,
        "quick": quick,
        "query": urlencode(quick.query()),
        "toggles": _toggles(urls["board"], quick),
        "lane_choices": LANES,
        "labels": Label.objects.filter(issues__in=source.issues)
        .distinct()
        .order_by("name")
        .values_list("name", flat=True)[:50],
        "can_move": bool(source.editable),
        "urls": urls,
        **data,
    }
    return render(request, "issues/board.html", context)


def _toggles(base: str, quick: QuickFilters) -> list[dict[str, Any]]:
    """Return the quick-filter toggle links (each flips one filter, keeping the others)."""
    out = []
    for name, label in (("mine", "Only my issues"), ("recent", "Recently updated")):
        on = getattr(quick, name)
        params = quick.query()
        if on:
            params.pop(name, None)
        else:
            params[name] = "1"
        out.append({"label": label, "on": on, "url": base + ("?" + urlencode(params) if params else "")})
    return out


@require_GET
def board_cards(request: HttpRequest, key: str | None = None, filter_id: int | None = None) -> JsonResponse:
    """Return the next cards of one column (and swimlane) after a cursor: {"html": ..., "next": cursor or null}."""
    source = _source(request, key, filter_id)
    try:
        quick = QuickFilters.from_query(request.GET)
        status_id = _int(request.GET.get("status"), "status")
        cards, after = board_cards_page(
            source=source,
            quick=quick,
            user=request.user,
            now=timezone.now(),
            status_id=status_id,
            lane=request.GET.get("lane") or None,
            cursor=request.GET.get("cursor", ""),
        )
    except BadBoardInput as exc:
        return _error(400, str(exc))
    html = render_to_string(
        "issues/_board_cards.html", {"cards": cards, "can_move": bool(source.editable), "editable": source.editable}
    )
    return JsonResponse({"html": html, "next": after})


def _int(value: str | None, name: str) -> int:
    if not value or not value.isdigit() or len(value) > 18:
        raise BadBoardInput(f"Give the {name} as a number.")
    return int(value)


@require_POST
def board_move(request: HttpRequest, key: str | None = None, filter_id: int | None = None) -> JsonResponse:
    """Move a card: to a status (the workflow decides) and between two cards of that column (409 when stale)."""
    source = _source(request, key, filter_id)
    data = request.POST
    try:
        quick = QuickFilters.from_query(data)
        status_id = _int(data.get("status"), "status")
        ref = (data.get("issue") or "").strip().upper()[:32]
        issue = source.issues.filter(key=ref).select_related("project").first()
        if issue is None:
            return _error(404, f"No issue {ref} on this board.")
        if status_id not in {s.status_id for s in source.steps}:
            return _error(400, "That status is not a column of this board.")
        to_status = Status.objects.get(pk=status_id)
        column = board_column_queryset(
            source=source,
            quick=quick,
            user=request.user,
            now=timezone.now(),
            status_id=status_id,
            lane=data.get("lane") or None,
        )
        ids = dict(
            Issue.objects.filter(key__in=[k for k in (data.get("after"), data.get("before")) if k]).values_list(
                "key", "pk"
            )
        )
        after_id = ids.get(data.get("after", ""), -1) if data.get("after") else None
        before_id = ids.get(data.get("before", ""), -1) if data.get("before") else None
        result = issue_move(
            issue=issue, actor=request.user, to_status=to_status, column=column, after_id=after_id, before_id=before_id
        )
    except BadBoardInput as exc:
        return _error(400, str(exc))
    except PermissionDenied as exc:
        return _error(403, str(exc) or "You may not move cards on this board.")
    except ValidationError as exc:
        return _error(400, " ".join(exc.messages))
    except StalePosition as exc:
        return _error(409, f"{exc} Reload the board to see where the cards are now.")
    return JsonResponse({"key": issue.key, "status": status_id, "rank": result.rank, "changed": result.changed})
