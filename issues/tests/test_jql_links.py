"""JQL about issue links: issue in linkedIssues(KEY[, phrase]) and issueLinkType.

Personas: alice sees DEMO (admin), bob sees OPS only (a link from OPS to DEMO must tell him nothing about DEMO).
"""

from __future__ import annotations

import pytest

from issues.jql import JQLError, compile_jql, jql_queryset
from issues.models import IssueLinkType, Membership, Role
from issues.services import issue_link_create


def keyset(text: str, user) -> set[str]:
    return set(jql_queryset(text, user=user).values_list("key", flat=True))


@pytest.fixture
def linked(project_a, project_b, make_issue, alice, bob):
    # DEMO-1 blocks DEMO-2; DEMO-3 duplicates DEMO-1; OPS-1 relates to DEMO-1 (made by alice, also in OPS).
    one, two, three = (make_issue(project_a) for _ in range(3))
    ops = make_issue(project_b)
    types = {t.name: t for t in IssueLinkType.objects.all()}
    Membership.objects.create(project=project_b, user=alice, role=Role.MEMBER)
    issue_link_create(actor=alice, link_type=types["Blocks"], outward_issue=one, inward_issue=two)
    issue_link_create(actor=alice, link_type=types["Duplicate"], outward_issue=three, inward_issue=one)
    issue_link_create(actor=alice, link_type=types["Relates"], outward_issue=ops, inward_issue=one)
    Membership.objects.filter(project=project_b, user=alice).delete()
    return one, two, three, ops


def test_linked_issues_of_a_key_both_directions_and_by_phrase(linked, alice):
    assert keyset("issue in linkedIssues(DEMO-1)", alice) == {"DEMO-2", "DEMO-3"}  # OPS-1: not alice's to see
    assert keyset('issue in linkedIssues(DEMO-1, "blocks")', alice) == {"DEMO-2"}
    assert keyset('issue in linkedIssues(DEMO-1, "is duplicated by")', alice) == {"DEMO-3"}
    assert keyset('issue in linkedIssues("DEMO-2", "is blocked by")', alice) == {"DEMO-1"}
    assert keyset("issue not in linkedIssues(DEMO-1) AND project = DEMO", alice) == {"DEMO-1"}


def test_issue_link_type_field(linked, alice):
    assert keyset("issueLinkType = blocks", alice) == {"DEMO-1"}
    assert keyset('issueLinkType = "is blocked by"', alice) == {"DEMO-2"}
    assert keyset("issueLinkType in (Duplicate)", alice) == {"DEMO-1", "DEMO-3"}  # a type's name: either way
    assert keyset("issueLinkType is EMPTY", alice) == set()


def test_linked_issues_of_an_issue_the_user_cannot_see_does_not_exist(linked, bob):
    # bob sees OPS-1, which relates to DEMO-1; asking about DEMO-1 is the same error as asking about a missing key.
    with pytest.raises(JQLError) as hidden:
        compile_jql("issue in linkedIssues(DEMO-1)", user=bob)
    with pytest.raises(JQLError) as missing:
        compile_jql("issue in linkedIssues(DEMO-99)", user=bob)
    assert str(hidden.value).replace("DEMO-1", "X") == str(missing.value).replace("DEMO-99", "X")
    assert keyset("issueLinkType = relates", bob) == {"OPS-1"}


def test_bad_link_queries_are_clear_errors(linked, alice):
    with pytest.raises(JQLError, match="Did you mean 'blocks'"):
        compile_jql("issueLinkType = blokcs", user=alice)
    with pytest.raises(JQLError, match="takes an issue key"):
        compile_jql("issue in linkedIssues()", user=alice)
    with pytest.raises(JQLError, match="cannot be used"):
        compile_jql("assignee = linkedIssues(DEMO-1)", user=alice)
