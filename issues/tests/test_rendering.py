"""Markdown references and task lists: links only to what the viewer may see, never through a shared page.

alice and carol see DEMO; bob sees OPS only. A DEMO comment naming @bob and OPS-1 stays plain text for alice and
carol; bob's own view (he may not open the DEMO issue at all) is tested on the preview, where he names DEMO-1.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from issues.models import Membership, Role
from issues.rendering import link_references, mentioned_usernames, render_markdown
from issues.services import comment_add


def test_task_lists_render_as_read_only_checkboxes():
    html = render_markdown("- [ ] open\n- [x] done\n- plain")
    assert '<li class="task-item"><input type="checkbox" disabled aria-label="To do"> open</li>' in html
    assert '<li class="task-item"><input type="checkbox" disabled checked aria-label="Done"> done</li>' in html
    assert "<li>plain</li>" in html


def test_mentions_and_keys_are_marked_outside_code_and_links_only():
    html = render_markdown("@carol saw DEMO-1, mail x@example.com\n\n`@bob OPS-1` [DEMO-2](https://e.x)")
    assert mentioned_usernames(html) == ["carol"]
    assert 'data-ref-issue="DEMO-1"' in html
    assert 'data-ref-issue="OPS-1"' not in html and 'data-ref-issue="DEMO-2"' not in html


def test_references_link_only_to_what_the_viewer_may_see(project_a, project_b, make_issue, alice, bob, carol):
    demo = make_issue(project_a)
    ops = make_issue(project_b, reporter=bob)
    html = render_markdown(f"@carol @bob @nobody {demo.key} {ops.key} DEMO-999")
    for_alice = link_references(html, user=alice)
    assert f'<a class="issue-ref" href="/browse/{demo.key}">{demo.key}</a>' in for_alice
    assert 'title="Carol Clark">@carol</a>' in for_alice
    # bob, his issue and a missing key read exactly like text nobody can resolve: nothing tells alice they exist
    assert " @bob @nobody" in for_alice and f" {ops.key} DEMO-999" in for_alice
    assert "Bob" not in for_alice and 'href="/browse/OPS' not in for_alice
    for_bob = link_references(html, user=bob)
    assert f'href="/browse/{ops.key}"' in for_bob and f'href="/browse/{demo.key}"' not in for_bob


def test_cached_issue_page_links_per_viewer(settings, client, project_a, project_b, make_issue, alice, bob, carol):
    # dave is a DEMO admin like alice, in her time zone, so both get the same shared body from the page cache;
    # he also sees OPS. His page links OPS-1 and @bob; alice's, rendered from the body cached for him, must not.
    settings.TASKRA_PAGE_CACHE = True

    dave = get_user_model().objects.create_user("dave", "dave@example.com", "pw")
    dave.profile.time_zone = alice.profile.time_zone
    dave.profile.save()
    Membership.objects.create(project=project_a, user=dave, role=Role.ADMIN)
    Membership.objects.create(project=project_b, user=dave, role=Role.MEMBER)
    ops = make_issue(project_b, reporter=bob, summary="Secret ops")
    issue = make_issue(project_a, summary="Page")
    comment_add(issue=issue, author=carol, body=f"See {ops.key} with @bob", check_permission=False)
    client.force_login(dave)
    page = client.get(f"/browse/{issue.key}").content.decode()
    assert f'href="/browse/{ops.key}"' in page and "@bob</a>" in page
    client.force_login(alice)
    page = client.get(f"/browse/{issue.key}").content.decode()
    assert f"See {ops.key} with @bob" in page
    assert f'href="/browse/{ops.key}"' not in page and "@bob</a>" not in page


def test_preview_renders_with_the_viewers_links(client, project_a, make_issue, alice, bob):
    demo = make_issue(project_a)
    client.force_login(bob)
    response = client.post("/issues/preview", {"text": f"- [x] {demo.key} @alice"})
    assert response.status_code == 200
    html = response.json()["html"]
    assert 'type="checkbox" disabled checked' in html
    assert "href" not in html  # bob sees neither DEMO nor alice


def test_preview_refuses_too_long_text_with_a_message(client, alice):
    client.force_login(alice)
    response = client.post("/issues/preview", {"text": "x" * 65536})
    assert response.status_code == 400
    assert "too long" in response.json()["error"]
