"""The adapter engine: the validate/skip switch, shadow sampling, the shared encodings, the GC pause.

A tiny schema over Django's user model keeps these tests independent of the apps. Personas: alice and
bob from conftest.py (no project matters here: the engine does no permission scoping).
"""

from __future__ import annotations

import datetime as dt
import gc
import logging

import orjson
import pytest
from django.contrib.auth import get_user_model
from pydantic import BaseModel, TypeAdapter, ValidationError

from taskra_site import adapters
from taskra_site.adapters import (
    OutField,
    RowAdapter,
    col,
    dumps,
    encode_datetime,
    gc_paused,
    reset_shadow_validation_counts,
    shadow_validation_counts,
)


class Person(BaseModel):
    id: int
    username: str
    first_name: str
    shout: str


PEOPLE = RowAdapter(
    "test.people",
    Person,
    [col("id"), col("username"), col("first_name"), OutField("shout", ("username",), str.upper)],
)


@pytest.fixture
def people(alice, bob):
    return get_user_model().objects.filter(username__in=["alice", "bob"]).order_by("username")


@pytest.fixture
def broken(people):
    """Two loaded users, the second with a first name no database row could hold (None)."""
    rows = list(people)
    rows[1].first_name = None
    return rows


@pytest.fixture
def shadow(settings):
    """Production's switch: validation off, shadow sampling at a rate the test sets; counters from zero."""
    settings.TASKRA_ADAPTER_VALIDATE = False
    reset_shadow_validation_counts()
    yield settings
    reset_shadow_validation_counts()


def test_rows_become_schema_shaped_dicts(people):
    assert PEOPLE.dicts(people) == [
        {"id": people[0].pk, "username": "alice", "first_name": "Alice", "shout": "ALICE"},
        {"id": people[1].pk, "username": "bob", "first_name": "Bob", "shout": "BOB"},
    ]
    assert orjson.loads(PEOPLE.json(people)) == PEOPLE.dicts(people)


def test_the_test_suite_validates_every_read_and_a_broken_row_fails(broken, settings):
    # conftest.py turns validation on for every test: no validate= argument needed for a failure.
    assert settings.TASKRA_ADAPTER_VALIDATE is True
    with pytest.raises(ValidationError) as info:
        PEOPLE.dicts(broken)
    assert [e["loc"] for e in info.value.errors()] == [(1, "first_name")]
    with pytest.raises(ValidationError):
        b"".join(PEOPLE.iter_json(broken, chunk_size=1))


def test_production_skips_validation_when_not_sampled(broken, shadow):
    shadow.TASKRA_ADAPTER_SHADOW_RATE = 0.0
    assert [d["first_name"] for d in PEOPLE.dicts(broken)] == ["Alice", None]
    assert shadow_validation_counts() == {"batches": 0, "rows": 0, "failed_rows": 0}


def test_explicit_switch_wins_over_the_settings(broken, shadow):
    shadow.TASKRA_ADAPTER_SHADOW_RATE = 1.0
    assert len(PEOPLE.dicts(broken, validate=False)) == 2  # skipped: not even sampled
    assert shadow_validation_counts()["batches"] == 0
    with pytest.raises(ValidationError):
        PEOPLE.dicts(broken, validate=True)


def test_shadow_validation_logs_and_counts_failing_rows_without_raising(broken, shadow, caplog):
    shadow.TASKRA_ADAPTER_SHADOW_RATE = 1.0
    with caplog.at_level(logging.WARNING, logger="taskra.adapters"):
        data = PEOPLE.dicts(broken)
    assert [d["username"] for d in data] == ["alice", "bob"]  # the reader still gets its rows
    assert shadow_validation_counts() == {"batches": 1, "rows": 2, "failed_rows": 1}
    (record,) = caplog.records
    message = record.getMessage()
    assert "test.people" in message and f"id {broken[1].pk}" in message and "first_name" in message
    assert "valid string" in message  # pydantic's own error text


@pytest.mark.parametrize(("draw", "checked"), [(0.29, 1), (0.3, 0), (0.9, 0)])
def test_shadow_sampling_checks_the_configured_fraction(people, shadow, monkeypatch, draw, checked):
    # The draw comes from adapters.shadow_random: a call is checked when the draw is below the rate.
    shadow.TASKRA_ADAPTER_SHADOW_RATE = 0.3
    monkeypatch.setattr(adapters, "shadow_random", lambda: draw)
    PEOPLE.dicts(people)
    assert shadow_validation_counts() == {"batches": checked, "rows": 2 * checked, "failed_rows": 0}


def test_shadow_sampling_draws_once_per_batch(people, shadow, monkeypatch):
    draws = iter([0.0, 0.99])
    shadow.TASKRA_ADAPTER_SHADOW_RATE = 0.5
    monkeypatch.setattr(adapters, "shadow_random", lambda: next(draws))
    assert len(list(PEOPLE.iter_dicts(people, chunk_size=1))) == 2
    assert shadow_validation_counts() == {"batches": 1, "rows": 1, "failed_rows": 0}


def test_datetimes_have_one_text_form():
    # What the JSON API writes (orjson, UTC as Z) is what pages and CSV exports show.
    when = dt.datetime(2026, 11, 20, 8, 15, 0, 500, tzinfo=dt.UTC)
    assert encode_datetime(when) == "2026-11-20T08:15:00.000500Z"
    assert dumps({"t": when}) == b'{"t":"2026-11-20T08:15:00.000500Z"}'
    assert TypeAdapter(dt.datetime).dump_json(when).decode() == f'"{encode_datetime(when)}"'
    assert encode_datetime(dt.datetime(2026, 11, 20, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))) == (
        "2026-11-20T09:00:00+01:00"
    )
    assert encode_datetime(dt.date(2030, 1, 5)) == "2030-01-05"
    assert encode_datetime(None) is None


def test_gc_pause_never_leaves_the_collector_off():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # nested: the inner one must not re-enable early
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_an_adapter_must_cover_its_schema_exactly():
    with pytest.raises(TypeError, match="no spec for \\['shout'\\]"):
        RowAdapter("test.bad", Person, [col("id"), col("username"), col("first_name")])
