"""The issue page (/browse/KEY) and its cached parts.

- cached: the payload and the rendered body in the shared page cache, named by one key function
  (issue_page_entry) for the slow path and the one-round-trip fast path alike; the in-process LRU of
  hot issue rows; the viewer's role memoised per global generation.
- html: per-request tokens taken out of shared bodies and filled back in; one template block rendered.
- refresh: the rebuild after a write (run by a Celery worker, issues.tasks.refresh_issue_pages).
"""
