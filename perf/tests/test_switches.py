"""Live A/B switches: stable per session, near the configured split, applied within the cache interval.

Personas: alice (DEMO member) browses; the switches are set directly (the admin is Django's).
"""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError
from prometheus_client import REGISTRY

from issues import pagecache
from perf import switches
from perf.models import Switch, SwitchMode
from taskra_site import switches as chosen


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch, settings):
    settings.TASKRA_SWITCH_CACHE_SECONDS = 10
    fake = FakeClock()
    monkeypatch.setattr(switches, "clock", fake)
    switches.forget()
    yield fake
    switches.hold(())


def test_split_is_stable_per_session_and_near_the_percentage():
    rule = switches.Rule("page_cache", SwitchMode.SPLIT, "on", "off", 30)
    sessions = [uuid.uuid4().hex for _ in range(10_000)]
    first = [switches.variant_of(rule, s) for s in sessions]
    assert first == [switches.variant_of(rule, s) for s in sessions]  # same session, same variant
    share_b = first.count("off") / len(first)
    # Binomial standard deviation at n=10,000, p=0.3 is 0.46 points: 2 points is over four of them.
    assert 0.28 <= share_b <= 0.32


def test_splits_of_different_switches_are_independent():
    a = switches.Rule("page_cache", SwitchMode.SPLIT, "on", "off", 50)
    b = switches.Rule("issue_lru", SwitchMode.SPLIT, "on", "off", 50)
    sessions = [uuid.uuid4().hex for _ in range(4000)]
    both_off = sum(switches.variant_of(a, s) == "off" and switches.variant_of(b, s) == "off" for s in sessions)
    assert 0.2 <= both_off / len(sessions) <= 0.3


def test_no_session_gets_variant_a():
    rule = switches.Rule("page_cache", SwitchMode.SPLIT, "on", "off", 100)
    assert switches.variant_of(rule, None) == "on"
    assert switches.variant_of(rule, uuid.uuid4().hex) == "off"


def test_switch_validation_names_the_allowed_variants(db):
    switch = Switch(name="adapter_validation", mode=SwitchMode.SPLIT, variant_a="shadow", variant_b="maybe")
    with pytest.raises(ValidationError) as exc:
        switch.full_clean()
    assert "shadow, skip, validate" in str(exc.value)


def test_switching_off_applies_within_the_cache_interval_without_restart(db, clock):
    switch = Switch.objects.create(name="page_cache", mode=SwitchMode.A, variant_a="on", variant_b="off")
    assert switches.choose("session-1") == {"page_cache": "on"}
    Switch.objects.filter(pk=switch.pk).update(mode=SwitchMode.B)
    clock.now += 9  # still within the interval: the process keeps what it read
    assert switches.choose("session-1") == {"page_cache": "on"}
    clock.now += 1.5  # past it: the next request reads the change
    assert switches.choose("session-1") == {"page_cache": "off"}
    Switch.objects.filter(pk=switch.pk).update(mode=SwitchMode.SETTING)
    clock.now += 11
    assert switches.choose("session-1") == {}


def test_off_variant_turns_the_page_cache_reads_off_for_that_request_only(settings):
    settings.TASKRA_PAGE_CACHE = True
    assert pagecache.page_cache_reads_enabled("navigator")
    with chosen.using({"page_cache": "off"}):
        assert not pagecache.page_cache_reads_enabled("issue")
        # Writes still bump generations: the other variant's entries never go stale.
        assert pagecache.page_cache_enabled()
    with chosen.using({"navigator_cache": "off"}):
        assert pagecache.page_cache_reads_enabled("issue")
        assert not pagecache.page_cache_reads_enabled("navigator")
    assert pagecache.page_cache_reads_enabled("navigator")


def test_adapter_validation_variant_overrides_the_setting(settings):
    from pydantic import TypeAdapter
    from pydantic import ValidationError as PydanticError

    from taskra_site.adapters import check_rows

    validator = TypeAdapter(list[int])
    settings.TASKRA_ADAPTER_VALIDATE = False
    settings.TASKRA_ADAPTER_SHADOW_RATE = 0.0
    check_rows(validator, ["x"], name="t", validate=None)  # production default: shadow at rate 0, no error
    with chosen.using({"adapter_validation": "validate"}), pytest.raises(PydanticError):
        check_rows(validator, ["x"], name="t", validate=None)
    settings.TASKRA_ADAPTER_VALIDATE = True
    with chosen.using({"adapter_validation": "skip"}):
        check_rows(validator, ["x"], name="t", validate=None)


def test_requests_are_labelled_by_variant(client, alice, project_a, clock, settings):
    Switch.objects.create(name="navigator_cache", mode=SwitchMode.SPLIT, variant_a="on", variant_b="off", percent_b=50)
    client.force_login(alice)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    variant = switches.variant_of(switches.Rule("navigator_cache", SwitchMode.SPLIT, "on", "off", 50), session)
    labels = {"route": "issues:navigator", "method": "GET", "variant": f"navigator_cache={variant}"}
    before = REGISTRY.get_sample_value("taskra_request_duration_seconds_count", labels) or 0.0
    client.get("/issues/?jql=project%3DDEMO")
    client.get("/issues/?jql=project%3DDEMO")
    assert REGISTRY.get_sample_value("taskra_request_duration_seconds_count", labels) == before + 2


def test_blank_variants_default_to_the_setting_against_off(db):
    switch = Switch(name="issue_lru", mode=SwitchMode.SPLIT, percent_b=10)
    switch.full_clean()
    assert (switch.variant_a, switch.variant_b) == ("on", "off")


def test_admin_saves_a_switch_and_applies_it_in_this_process_at_once(client, admin_user, clock):
    client.force_login(admin_user)
    assert switches.choose("s") == {}
    response = client.post(
        "/admin/perf/switch/add/",
        {"name": "gc_pause", "mode": SwitchMode.B, "variant_a": "", "variant_b": "", "percent_b": 50},
    )
    assert response.status_code == 302, response.content
    assert switches.choose("s") == {"gc_pause": "off"}  # no wait for the interval: the admin forgot the cache
