# Taskra: `make run` to try it, `make test` to test it. Only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
ADDR   ?= 127.0.0.1:8000
SEED_ISSUES ?= 5000
PYTEST_ARGS ?=
# Where settings.py keeps the SQLite database, uploads and the file broker (TASKRA_VAR_DIR overrides it).
DATA_DIR := $(or $(TASKRA_VAR_DIR),var)

.PHONY: venv run serve worker beat test lint format bench-load bench-adapters bench-api bench-cache bench-import \
	bench-navigator bench-worklogs bench-check bench-report bench-metrics clean clean-data

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --ignore-requires-python --no-deps taskra==0.1.9  # see requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

# Web server and a Celery worker (with embedded beat for periodic tasks) on the embedded defaults. One Ctrl-C stops
# both: taskra_site/supervise.py sends each a single SIGTERM and waits for them.
run: export DEBUG ?= 1
run: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty --issues $(SEED_ISSUES) --base-url http://$(ADDR)/
	@echo "Starting Taskra on http://$(ADDR)/ and a Celery worker with beat (Ctrl-C stops both)"
	@exec $(BIN)/python -m taskra_site.supervise \
		-- $(BIN)/celery -A taskra_site worker -B --loglevel INFO --concurrency 1 \
		-- $(BIN)/python manage.py runserver $(ADDR)

# Production server: gunicorn (taskra_site/gunicorn_conf.py) on whatever DATABASE_URL, REDIS_URL and
# CELERY_BROKER_URL say; WEB_WORKERS, WEB_TIMEOUT and WEB_BIND tune it (docs/operations.md, section Serving).
# Static files are collected into $(DATA_DIR)/static for the reverse proxy to serve. Run `make worker` and
# `make beat` next to it.
serve: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	exec $(BIN)/gunicorn -c taskra_site/gunicorn_conf.py taskra_site.wsgi

worker: venv
	$(BIN)/celery -A taskra_site worker --loglevel INFO

# Celery beat alone: sends the periodic tasks (taskra_site/celery.py) when workers run elsewhere. Run one only.
beat: venv
	$(BIN)/celery -A taskra_site beat --loglevel INFO

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Load test (bench/load.py): seed a PostgreSQL database at SIZE issues (once per size), start gunicorn with
# 2 workers on it and Redis, run Locust headless (USERS clients for DURATION) and print percentiles per journey.
# The database is BENCH_DATABASE_URL (default taskra_bench_<SIZE> on 127.0.0.1), Redis BENCH_REDIS_URL or REDIS_URL.
SIZE ?= 20000
USERS ?= 16
DURATION ?= 60s
bench-load: venv
	$(BIN)/python bench/load.py --size $(SIZE) --users $(USERS) --duration $(DURATION)

bench-adapters: venv
	$(BIN)/python bench/adapters.py

bench-api: venv
	$(BIN)/python bench/api.py

bench-cache: venv
	$(BIN)/python bench/cache.py

bench-import: venv
	$(BIN)/python bench/imports.py

bench-navigator: venv
	$(BIN)/python bench/navigator.py

bench-worklogs: venv
	$(BIN)/python bench/worklog_reports.py

# CI's benchmark guard (bench/check.py): quick paired ratios of each benchmark against bench/thresholds.toml; fails
# on a regression beyond noise and appends the run to var/bench/history.jsonl. Runs on its own scratch database;
# the load check (gunicorn + Locust) on BENCH_LOAD_DATABASE_URL and BENCH_LOAD_REDIS_URL (.ci/run sets both).
bench-check: venv
	env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL $(BIN)/python bench/check.py

# The history of bench-check as an SVG trend (var/bench/trend.svg); /perf/ shows the same chart.
bench-report: venv
	$(BIN)/python bench/report.py

# Overhead of the perf middleware on the cached issue page (docs/benchmarks/2026-12-01-metrics.md).
bench-metrics: venv
	env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL $(BIN)/python bench/metrics_overhead.py

# The venv and tool caches only: your data in $(DATA_DIR)/ is kept (see clean-data).
clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +

# Deletes the SQLite database, uploaded import files, the file broker's queue and collected static files.
clean-data:
	@if [ -e "$(DATA_DIR)" ]; then \
		echo "Deleting $(DATA_DIR)/ (the SQLite database, uploads, queued jobs, collected static files):"; \
		find "$(DATA_DIR)" -mindepth 1 -maxdepth 1 -exec du -sh {} +; \
		rm -rf "$(DATA_DIR)"; \
	else \
		echo "Nothing to delete: $(DATA_DIR)/ does not exist."; \
	fi
