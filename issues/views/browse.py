"""Issue pages: /browse/KEY (view, inline edit, comments, worklogs), /issues/new, /browse/KEY/edit.

Thin views: find the issue through issue_for_user (another project's issue is a 404, exactly like a missing
one), check the role for writes (viewers get 403), hand cleaned form data to the services, redirect after
POST. Create forms carry a one-time token so a double submit writes once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import user_zone
from issues import idempotency
from issues.forms import (
    INLINE_FORMS,
    AssigneeForm,
    CommentEditForm,
    CommentForm,
    IssueForm,
    MoveForm,
    WorklogForm,
    editable_projects,
)
from issues.issuepage import cached as issuepage
from issues.issuepage.links import links_html
from issues.models import Comment, Issue, IssueType
from issues.permissions import (
    can_see_in,
    project_role,
    require_admin,
    require_comment_edit,
    require_edit,
    require_worklog_change,
)
from issues.rendering import link_references, render_markdown
from issues.selectors import issue_delete_counts, issue_for_user, issue_key_alias_for_user
from issues.services import (
    comment_add,
    comment_delete,
    comment_update,
    issue_clone,
    issue_create,
    issue_delete,
    issue_move,
    issue_update,
)
from taskra_site.links import issue_url
from taskra_site.validation import (
    apply_validation_errors_to_form,
    error_list,
)
from worklogs.models import Worklog
from worklogs.services import worklog_add, worklog_delete, worklog_update

# The longest text the preview renders: the longest field (a comment or a description) holds 65,535 characters.
PREVIEW_MAX_CHARS = 65535


def _issue_or_404(request: HttpRequest, key: str) -> Issue:
    issue = issue_for_user(key=key, user=request.user)
    if issue is None:
        raise Http404("No such issue.")
    return issue


def _user_id(request: HttpRequest) -> int:
    """Return the signed-in user's id (LoginRequiredMiddleware lets no anonymous request reach these views)."""
    user_id = request.user.pk
    if user_id is None:
        raise PermissionDenied("Sign in first.")
    return user_id


def _require_edit(request: HttpRequest, issue: Issue) -> str:
    return require_edit(request.user, issue.project_id, "Viewers cannot change issues.")


def _render_page(
    request: HttpRequest,
    issue: Issue,
    *,
    comment_form: CommentForm | None = None,
    worklog_form: WorklogForm | None = None,
    inline_errors: dict[str, Any] | None = None,
    link_error: str = "",
    attachment_error: str = "",
    status: int = 200,
) -> HttpResponse:
    tz = user_zone(request.user)
    role = project_role(request.user, issue.project_id)
    if role is None or not can_see_in(role):  # not a member: exactly like a missing issue
        raise Http404("No such issue.")
    # A page with form errors: the payload comes from the page cache (shared by every viewer who may see the
    # issue), the body is rendered for this request and never shared.
    data = issuepage.issue_payload(issue=issue)
    context = issuepage.page_context(
        request=request,
        issue=issue,
        data=data,
        role=role,
        tz=tz,
        comment_form=comment_form,
        worklog_form=worklog_form,
        inline_errors=inline_errors,
    )
    context["attachment_error"] = attachment_error
    context["links_html"] = links_html(data=data, role=role, request=request, error=link_error)
    with timezone.override(tz):
        response = render(request, "issues/browse.html", context, status=status)
    # Rendered for this viewer only: mentions and issue keys link to what they may see (issues.rendering).
    response.content = link_references(response.content.decode(), user=request.user)
    return response


def _cached_response(request: HttpRequest, data: dict[str, Any], body: str) -> HttpResponse:
    return render(request, "issues/browse_cached.html", {"issue": data["issue"], "page_body": mark_safe(body)})


@require_http_methods(["GET", "HEAD"])
def browse(request: HttpRequest, key: str) -> HttpResponse:
    """Show one issue with its comments, worklogs, time tracking and history; an old key redirects to the new one."""
    # The body ({% block content %}) comes from the page cache, shared by viewers with the same role and time zone
    # (CSRF and form tokens filled in per request); only the page around it (header, messages) is rendered here.
    # A hot issue costs two cache round trips; another project's issue is a 404 like a missing one.
    try:
        data, body = issuepage.rendered_issue_page(request=request, key=key)
    except Http404:
        moved = issue_key_alias_for_user(key=key, user=request.user)  # a key the issue had before a move
        if moved is None:
            raise
        return HttpResponsePermanentRedirect(issue_url(moved))
    return _cached_response(request, data, body)


@require_POST
def inline_edit(request: HttpRequest, key: str, field: str) -> HttpResponse:
    """Change one field from the issue page: summary, description, status, assignee, priority, labels."""
    issue = _issue_or_404(request, key)
    form_class = INLINE_FORMS.get(field)
    if form_class is None:
        raise Http404("Not an inline field.")
    _require_edit(request, issue)
    form: forms.Form
    if form_class is AssigneeForm:  # its choices are the project's members
        form = AssigneeForm(request.POST, project_id=issue.project_id, current_id=issue.assignee_id)
    else:
        form = form_class(request.POST)
    if form.is_valid():
        try:
            changed = issue_update(issue=issue, actor=request.user, data={field: form.cleaned_data[field]})
        except ValidationError as exc:
            apply_validation_errors_to_form(form, exc)
        else:
            if changed:
                messages.success(request, f"{issue.key}: {field} updated.")
            return HttpResponseRedirect(issue.get_absolute_url())
    errors = [str(e) for errs in form.errors.values() for e in errs]
    return _render_page(request, issue, inline_errors={field: errors}, status=400)


@require_POST
def assign_to_me(request: HttpRequest, key: str) -> HttpResponse:
    """Make the signed-in member the issue's assignee (the "Assign to me" button)."""
    issue = _issue_or_404(request, key)
    _require_edit(request, issue)
    try:
        changed = issue_update(issue=issue, actor=request.user, data={"assignee": request.user})
    except ValidationError as exc:
        errors = [e["message"] for e in error_list(exc)]
        return _render_page(request, issue, inline_errors={"assignee": errors}, status=400)
    if changed:
        messages.success(request, f"{issue.key} is assigned to you.")
    return HttpResponseRedirect(issue.get_absolute_url())


@require_POST
def clone(request: HttpRequest, key: str) -> HttpResponse:
    """Copy the issue (new key, "clones" link to the original) and open the copy."""
    issue = _issue_or_404(request, key)
    _require_edit(request, issue)
    copy = issue_clone(issue=issue, actor=request.user)
    messages.success(request, f"Created {copy.key}, a clone of {issue.key}.")
    return HttpResponseRedirect(copy.get_absolute_url())


@require_http_methods(["GET", "POST"])
def move(request: HttpRequest, key: str) -> HttpResponse:
    """Move the issue (with its sub-tasks) to another project; the old key keeps working."""
    issue = _issue_or_404(request, key)
    _require_edit(request, issue)
    form = MoveForm(request.POST or None, user=request.user, issue=issue)
    if request.method == "POST" and form.is_valid():
        old_key = issue.key
        try:
            issue_move(issue=issue, actor=request.user, project=form.cleaned_data["project"])
        except ValidationError as exc:
            apply_validation_errors_to_form(form, exc)
        else:
            messages.success(request, f"Moved {old_key} to {issue.key}.")
            return HttpResponseRedirect(issue.get_absolute_url())
    status = 400 if form.is_bound else 200
    return render(request, "issues/browse_move.html", {"form": form, "issue": issue}, status=status)


@require_POST
def comment_remove(request: HttpRequest, key: str, comment_id: int) -> HttpResponse:
    """Delete a comment: one's own as a member, any as a project admin (recorded in the history)."""
    issue = _issue_or_404(request, key)
    comment = get_object_or_404(Comment, pk=comment_id, issue_id=issue.pk)
    comment_delete(comment=comment, actor=request.user)
    messages.success(request, "Comment deleted.")
    return HttpResponseRedirect(f"{issue.get_absolute_url()}#comments")


@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    """Create an issue in one of the projects where the user is a member or admin."""
    if not editable_projects(request.user).exists():
        raise PermissionDenied("You are not a member of any project where you can create issues.")
    if request.method == "POST":
        form = IssueForm(request.POST, user=request.user)
        if form.is_valid():
            user_id = _user_id(request)
            token = form.cleaned_data["form_token"]
            claimed, earlier = idempotency.claim(user_id=user_id, token=token)
            if not claimed:
                messages.info(request, "This form was already submitted.")
                return HttpResponseRedirect(earlier or reverse("issues:create"))
            try:
                issue = issue_create(project=form.cleaned_data["project"], reporter=request.user, **form.service_data())
            except ValidationError as exc:
                idempotency.release(user_id=user_id, token=token)
                apply_validation_errors_to_form(form, exc)
            else:
                idempotency.complete(user_id=user_id, token=token, url=issue.get_absolute_url())
                messages.success(request, f"Created {issue.key}.")
                return HttpResponseRedirect(issue.get_absolute_url())
    else:
        initial: dict[str, int | str] = {}
        project_key = request.GET.get("project", "")
        if project_key:
            found = editable_projects(request.user).filter(key=project_key.upper()).values_list("pk", flat=True).first()
            if found:
                initial["project"] = found
        parent_key = request.GET.get("parent", "")
        if parent_key:
            initial["parent"] = parent_key.upper()[:32]
            subtask_type = IssueType.objects.filter(is_subtask=True).values_list("pk", flat=True).first()
            if subtask_type:
                initial["type"] = subtask_type
        form = IssueForm(user=request.user, initial=initial)
    return render(request, "issues/browse_form.html", {"form": form, "issue": None})


@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, key: str) -> HttpResponse:
    """Edit every field of an issue."""
    issue = _issue_or_404(request, key)
    _require_edit(request, issue)
    if request.method == "POST":
        form = IssueForm(request.POST, user=request.user, issue=issue)
        if form.is_valid():
            try:
                changed = issue_update(issue=issue, actor=request.user, data=form.service_data())
            except ValidationError as exc:
                apply_validation_errors_to_form(form, exc)
            else:
                messages.success(request, f"{issue.key} updated." if changed else "Nothing changed.")
                return HttpResponseRedirect(issue.get_absolute_url())
    else:
        form = IssueForm(user=request.user, issue=issue)
    return render(request, "issues/browse_form.html", {"form": form, "issue": issue})


def _once(request: HttpRequest, form: Any, write: Any, fallback_url: str) -> HttpResponse | None:
    """Run `write()` (returning the URL to go to) once per form token; None when it raised a ValidationError."""
    user_id = _user_id(request)
    token = form.cleaned_data["form_token"]
    claimed, earlier = idempotency.claim(user_id=user_id, token=token)
    if not claimed:
        messages.info(request, "This form was already submitted.")
        return HttpResponseRedirect(earlier or fallback_url)
    try:
        url = write()
    except ValidationError as exc:
        idempotency.release(user_id=user_id, token=token)
        apply_validation_errors_to_form(form, exc)
        return None
    idempotency.complete(user_id=user_id, token=token, url=url)
    return HttpResponseRedirect(url)


@require_POST
def comment_create(request: HttpRequest, key: str) -> HttpResponse:
    """Add a comment to an issue."""
    issue = _issue_or_404(request, key)
    _require_edit(request, issue)
    form = CommentForm(request.POST)
    if form.is_valid():

        def write() -> str:
            comment = comment_add(issue=issue, author=request.user, body=form.cleaned_data["body"])
            return f"{issue.get_absolute_url()}#comment-{comment.pk}"

        response = _once(request, form, write, issue.get_absolute_url())
        if response is not None:
            return response
    return _render_page(request, issue, comment_form=form, status=400)


@require_http_methods(["GET", "POST"])
def comment_edit(request: HttpRequest, key: str, comment_id: int) -> HttpResponse:
    """Edit one's own comment."""
    issue = _issue_or_404(request, key)
    comment = get_object_or_404(Comment.objects.select_related("author"), pk=comment_id, issue_id=issue.pk)
    _require_edit(request, issue)
    require_comment_edit(request.user, author_id=comment.author_id, project_id=issue.project_id)
    if request.method == "POST":
        form = CommentEditForm(request.POST)
        if form.is_valid():
            try:
                comment_update(comment=comment, actor=request.user, body=form.cleaned_data["body"])
            except ValidationError as exc:
                apply_validation_errors_to_form(form, exc)
            else:
                messages.success(request, "Comment updated.")
                return HttpResponseRedirect(f"{issue.get_absolute_url()}#comment-{comment.pk}")
    else:
        form = CommentEditForm(initial={"body": comment.body})
    return render(request, "issues/browse_comment_edit.html", {"form": form, "issue": issue, "comment": comment})


@require_POST
def worklog_create(request: HttpRequest, key: str) -> HttpResponse:
    """Log work on an issue ("2h 30m", start date and time in the user's time zone, comment)."""
    issue = _issue_or_404(request, key)
    _require_edit(request, issue)
    form = WorklogForm(request.POST, tz=user_zone(request.user))
    if form.is_valid():

        def write() -> str:
            worklog = worklog_add(
                issue=issue,
                author=request.user,
                time_spent=form.cleaned_data["time_spent"],
                started=form.cleaned_data["started"],
                comment=form.cleaned_data["comment"],
                adjust_estimate=form.cleaned_data["adjust_estimate"],
                new_estimate=form.cleaned_data["new_estimate"],
            )
            return f"{issue.get_absolute_url()}#worklog-{worklog.pk}"

        response = _once(request, form, write, issue.get_absolute_url())
        if response is not None:
            messages.success(request, f"Logged {form['time_spent'].value()} on {issue.key}.")
            return response
    return _render_page(request, issue, worklog_form=form, status=400)


def _own_worklog(request: HttpRequest, key: str, worklog_id: int) -> tuple[Issue, Worklog]:
    issue = _issue_or_404(request, key)
    worklog = get_object_or_404(Worklog.objects.select_related("author"), pk=worklog_id, issue_id=issue.pk)
    require_worklog_change(request.user, author_id=worklog.author_id, project_id=issue.project_id)
    return issue, worklog


def _next_url(request: HttpRequest, default: str) -> str:
    """Return the local `next` URL the form came from (the worklog list), or default."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target.startswith("/") and safe else default


@require_http_methods(["GET", "POST"])
def worklog_edit(request: HttpRequest, key: str, worklog_id: int) -> HttpResponse:
    """Edit one's own worklog (project admins may edit any)."""
    issue, worklog = _own_worklog(request, key, worklog_id)
    tz = user_zone(request.user)
    if request.method == "POST":
        form = WorklogForm(request.POST, tz=tz, worklog=worklog)
        if form.is_valid():
            try:
                worklog_update(
                    worklog=worklog,
                    actor=request.user,
                    time_spent=form.cleaned_data["time_spent"],
                    started=form.cleaned_data["started"],
                    comment=form.cleaned_data["comment"],
                    adjust_estimate=form.cleaned_data["adjust_estimate"],
                    new_estimate=form.cleaned_data["new_estimate"],
                )
            except ValidationError as exc:
                apply_validation_errors_to_form(form, exc)
            else:
                messages.success(request, "Worklog updated.")
                return HttpResponseRedirect(_next_url(request, f"{issue.get_absolute_url()}#worklog-{worklog.pk}"))
    else:
        form = WorklogForm(tz=tz, worklog=worklog)
    back = _next_url(request, f"{issue.get_absolute_url()}#worklog-{worklog.pk}")
    context = {"form": form, "issue": issue, "worklog": worklog, "user_tz": str(tz), "back": back}
    return render(request, "issues/browse_worklog_edit.html", context)


@require_http_methods(["GET", "POST"])
def worklog_remove(request: HttpRequest, key: str, worklog_id: int) -> HttpResponse:
    """Ask, then delete one's own worklog; its time goes back to the remaining estimate."""
    issue, worklog = _own_worklog(request, key, worklog_id)
    if request.method == "POST":
        worklog_delete(worklog=worklog, actor=request.user)
        messages.success(request, "Worklog deleted.")
        return HttpResponseRedirect(_next_url(request, f"{issue.get_absolute_url()}#worklogs"))
    tz = user_zone(request.user)
    back = _next_url(request, f"{issue.get_absolute_url()}#worklogs")
    with timezone.override(tz):
        return render(request, "issues/browse_worklog_delete.html", {"issue": issue, "worklog": worklog, "back": back})


@require_http_methods(["GET", "POST"])
def remove(request: HttpRequest, key: str) -> HttpResponse:
    """Ask, then delete an issue with its sub-tasks, comments and worklogs (project admins only)."""
    issue = _issue_or_404(request, key)
    require_admin(request.user, issue.project_id)
    if request.method == "POST":
        subtasks = issue_delete(issue=issue, actor=request.user) - 1
        note = f" and {subtasks} sub-task{pluralize(subtasks)}" if subtasks else ""
        messages.success(request, f"Deleted {issue.key}{note}.")
        return HttpResponseRedirect(
            reverse("issues:navigator") + "?" + urlencode({"jql": f"project = {issue.project.key}"})
        )
    counts = issue_delete_counts(issue=issue)
    taken = [f"{n} {what}{pluralize(n)}" for what, n in counts.items() if n]
    return render(request, "issues/browse_delete.html", {"issue": issue, "taken": taken})


@require_POST
def markdown_preview(request: HttpRequest) -> HttpResponse:
    """Return the editor's Markdown as the page would show it to this viewer (JSON {"html": ...})."""
    text = request.POST.get("text", "")
    if len(text) > PREVIEW_MAX_CHARS:
        return JsonResponse(
            {"error": f"Text too long to preview (at most {PREVIEW_MAX_CHARS:,} characters)."}, status=400
        )
    return JsonResponse({"html": link_references(render_markdown(text), user=request.user)})
