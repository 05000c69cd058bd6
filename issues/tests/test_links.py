"""Issue links: the services' rules, history, and the page-cache invalidation of both linked issues.

Personas: alice is admin of DEMO, carol a viewer in DEMO, bob a member of OPS only (sees nothing of DEMO).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from issues.models import History, IssueLink, IssueLinkType, Membership, Role
from issues.services import issue_delete, issue_link_create, issue_link_delete


def link_type(name: str) -> IssueLinkType:
    return IssueLinkType.objects.get(name=name)


def test_jira_default_link_types_exist(db):
    found = set(IssueLinkType.objects.values_list("name", "outward", "inward"))
    assert found == {
        ("Blocks", "blocks", "is blocked by"),
        ("Cloners", "clones", "is cloned by"),
        ("Duplicate", "duplicates", "is duplicated by"),
        ("Relates", "relates to", "relates to"),
    }


def test_link_is_recorded_on_both_issues(project_a, make_issue, alice):
    one, two = make_issue(project_a), make_issue(project_a)
    link = issue_link_create(actor=alice, link_type=link_type("Blocks"), outward_issue=one, inward_issue=two)
    assert (link.outward_issue_id, link.inward_issue_id) == (one.pk, two.pk)
    assert History.objects.get(issue=one, field="link").to_value == f"This issue blocks {two.key}"
    assert History.objects.get(issue=two, field="link").to_value == f"This issue is blocked by {one.key}"
    issue_link_delete(link=link, actor=alice)
    assert not IssueLink.objects.exists()
    assert History.objects.filter(issue=two, field="link", to_value="").get().from_value.endswith(one.key)


def test_link_to_an_issue_the_actor_cannot_see_is_not_found(project_a, project_b, make_issue, alice, bob):
    # bob (OPS only) links his OPS issue to a DEMO issue he cannot see: the same error as a missing key.
    mine, hidden = make_issue(project_b, reporter=bob), make_issue(project_a)
    with pytest.raises(ValidationError) as exc:
        issue_link_create(actor=bob, link_type=link_type("Relates"), outward_issue=mine, inward_issue=hidden)
    assert exc.value.message_dict == {
        "issue": [f"Issue {hidden.key} does not exist or you do not have permission to see it."]
    }
    assert not IssueLink.objects.exists()


def test_viewer_may_not_link_and_self_and_duplicate_links_are_refused(project_a, make_issue, alice, carol):
    one, two = make_issue(project_a), make_issue(project_a)
    with pytest.raises(PermissionDenied):  # carol is a viewer in DEMO
        issue_link_create(actor=carol, link_type=link_type("Blocks"), outward_issue=one, inward_issue=two)
    with pytest.raises(ValidationError, match="itself"):
        issue_link_create(actor=alice, link_type=link_type("Blocks"), outward_issue=one, inward_issue=one)
    issue_link_create(actor=alice, link_type=link_type("Relates"), outward_issue=one, inward_issue=two)
    with pytest.raises(ValidationError, match="already relates to"):  # symmetric: the other way round is the same
        issue_link_create(actor=alice, link_type=link_type("Relates"), outward_issue=two, inward_issue=one)


def test_cross_project_link_needs_edit_on_the_source_only(project_a, project_b, make_issue, alice, bob):
    # bob joins DEMO as a viewer: he may link from his OPS issue to a DEMO issue, not from the DEMO issue.
    Membership.objects.create(project=project_a, user=bob, role=Role.VIEWER)
    demo, ops = make_issue(project_a), make_issue(project_b, reporter=bob)
    with pytest.raises(PermissionDenied):
        issue_link_create(actor=bob, link_type=link_type("Blocks"), outward_issue=demo, inward_issue=ops)
    link = issue_link_create(actor=bob, link_type=link_type("Blocks"), outward_issue=demo, inward_issue=ops, source=ops)
    with pytest.raises(PermissionDenied):
        issue_link_delete(link=link, actor=bob, source=demo)
    issue_link_delete(link=link, actor=bob, source=ops)


def test_link_writes_retire_both_issues_pages_once(
    locmem_page_cache, lookups, project_a, project_b, make_issue, alice, bumps
):
    # alice joins OPS so that she may link across projects; each write bumps both issues and both projects once.
    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    demo, ops = make_issue(project_a), make_issue(project_b)
    bumps.clear()
    link = issue_link_create(actor=alice, link_type=link_type("Blocks"), outward_issue=demo, inward_issue=ops)
    assert len(bumps.calls) == 1
    assert bumps.issues() == {demo.pk: 1, ops.pk: 1}
    assert bumps.projects() == {project_a.pk: 1, project_b.pk: 1}
    bumps.clear()
    issue_link_delete(link=link, actor=alice)
    assert len(bumps.calls) == 1
    assert bumps.issues() == {demo.pk: 1, ops.pk: 1}
    issue_link_create(actor=alice, link_type=link_type("Blocks"), outward_issue=demo, inward_issue=ops)
    bumps.clear()
    issue_delete(issue=ops, actor=None)  # the DEMO issue's page listed the deleted one
    assert bumps.issues()[demo.pk] == 1
    assert not IssueLink.objects.exists()
