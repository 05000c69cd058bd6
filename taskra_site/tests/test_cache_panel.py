"""The debug toolbar's page-cache panel says why the cache is off (taskra_site/cache_panel.py)."""

from __future__ import annotations

from taskra_site.cache_panel import why_off


def test_why_off_names_the_setting(settings):
    settings.TASKRA_PAGE_CACHE = False
    assert "TASKRA_PAGE_CACHE=0" in why_off({})


def test_why_off_names_the_local_memory_cache(settings, monkeypatch):
    settings.TASKRA_PAGE_CACHE = None
    monkeypatch.setattr("taskra_site.sharedcache.is_process_local", lambda: True)
    assert "local-memory cache" in why_off({})


def test_why_off_names_the_ab_switch(settings):
    settings.TASKRA_PAGE_CACHE = True
    assert why_off({}) == ""
    assert "A/B switch page_cache" in why_off({"page_cache": "off"})
