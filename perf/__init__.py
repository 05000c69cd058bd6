"""Operations: request and Celery metrics (/metrics), Server-Timing, the slow-request log, the staff performance
page (/perf/), live A/B switches for the optimisations, and the CI benchmark check's history (docs/operations.md)."""
