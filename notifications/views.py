"""Notification pages: the list (/notifications/), settings, mark read, watch/unwatch, unsubscribe by e-mail link.

Thin views: they parse input and call notifications.services / selectors.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from issues.selectors import issue_for_user
from notifications import selectors, services
from notifications.forms import NotificationSettingsForm

PAGE_SIZE = 50


def _user_id(request: HttpRequest) -> int:
    """Return the signed-in user's id (LoginRequiredMiddleware lets no anonymous request reach these views)."""
    user_id = request.user.pk
    if user_id is None:
        raise PermissionDenied("Sign in first.")
    return int(user_id)


@require_http_methods(["GET", "HEAD"])
def notification_list(request: HttpRequest) -> HttpResponse:
    """List the user's notifications, newest first (?unread=1: only unread ones)."""
    unread_only = request.GET.get("unread") == "1"
    page = Paginator(selectors.notifications_for(user=request.user, unread_only=unread_only), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "notifications/list.html",
        {"page": page, "unread_only": unread_only, "unread": selectors.unread_count(user=request.user)},
    )


@require_POST
def mark_read(request: HttpRequest) -> HttpResponse:
    """Mark the checked notifications read, or all of them (the "Mark all read" button sends all=1)."""
    if request.POST.get("all") == "1":
        ids = None
    else:
        raw = request.POST.getlist("id")
        if not raw or not all(v.isdigit() for v in raw):
            return HttpResponseBadRequest("Choose notifications to mark read (ids are numbers).")
        ids = [int(v) for v in raw]
    changed = services.notifications_mark_read(user=request.user, ids=ids)
    messages.success(request, f"{changed} notification{'s' if changed != 1 else ''} marked read.")
    return HttpResponseRedirect(reverse("notifications:list"))


@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Show and save which events the user hears of, and whether by e-mail."""
    current = services.settings_for(user_id=_user_id(request))
    form = NotificationSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        services.settings_update(user=request.user, values={f: form.cleaned_data[f] for f in form.fields})
        messages.success(request, "Notification settings saved.")
        return HttpResponseRedirect(reverse("notifications:settings"))
    return render(request, "notifications/settings.html", {"form": form})


@require_POST
def watch(request: HttpRequest, key: str) -> HttpResponse:
    """Watch or unwatch an issue (action=watch|unwatch); another project's issue is a 404 like a missing one."""
    issue = issue_for_user(key=key, user=request.user)
    if issue is None:
        raise Http404("No such issue.")
    action = request.POST.get("action")
    if action not in ("watch", "unwatch"):
        return HttpResponseBadRequest("action must be watch or unwatch.")
    try:
        if action == "watch":
            services.watch_add(issue=issue, user=request.user)
            messages.success(request, f"You are watching {issue.key}.")
        else:
            services.watch_remove(issue=issue, user=request.user)
            messages.success(request, f"You stopped watching {issue.key}.")
    except PermissionDenied as exc:
        raise Http404("No such issue.") from exc
    back = request.POST.get("next") or reverse("issues:browse", args=[issue.key])
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("issues:browse", args=[issue.key])
    return HttpResponseRedirect(back)


@require_http_methods(["GET", "HEAD"])
def watchers(request: HttpRequest, key: str) -> HttpResponse:
    """Show the viewer's Watch/Unwatch button and the issue's watchers (?fragment=1: the box alone, for watch.js).

    Loaded apart from the issue page so the page's shared cached body holds nothing per viewer and a cached page
    hit keeps its one query. Another project's issue is a 404 like a missing one.
    """
    issue = issue_for_user(key=key, user=request.user)
    if issue is None:
        raise Http404("No such issue.")
    people = selectors.issue_watchers(issue_id=issue.pk)
    context = {
        "issue": issue,
        "issue_key": issue.key,
        "watchers": people,
        "watching": any(w["id"] == request.user.pk for w in people),
    }
    template = "notifications/_watch_box.html" if request.GET.get("fragment") == "1" else "notifications/watchers.html"
    return render(request, template, context)


@login_not_required
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Turn notification e-mail off from a digest's link, without logging in (GET asks, POST does it)."""
    user_id = services.unsubscribe_user_id(token)
    if user_id is None:
        return render(request, "notifications/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "POST":
        services.email_unsubscribe(user_id=user_id)
        return render(request, "notifications/unsubscribe.html", {"done": True})
    return render(request, "notifications/unsubscribe.html", {"token": token})
