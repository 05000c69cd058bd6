"""Locust journeys of a Taskra installation under load (run by bench/load.py; `make bench-load`).

Each simulated client logs in through the login form (CSRF token from the page, session cookie kept) as
one of the people bench/load.py prepared, then picks journeys by weight. Request names are the journeys
bench/load.py reports on; "floor" (GET /accounts/login/) is the trivial page every ratio is taken against.
The data the journeys need (users, project sizes, names) comes from the JSON file named by BENCH_DATA.

Cache-off journeys: bench/load.py splits sessions on the live "page_cache" switch (perf.switches, as an operator
would in the admin: half the sessions in variant "off"). Each client keeps two sessions: its main one, logged in
again until the switch puts it in variant "on" (the other journeys see the page cache as before), and a second
one logged in until it lands in "off", used only by the "(cache off)" journeys. Nothing in the server knows it
is being measured: the session key alone decides the variant, as for every user in an experiment.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import itertools
import json
import os
import random
import re
import threading
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from locust import HttpUser, between, task
from locust.clients import HttpSession

DATA: dict[str, Any] = json.loads(Path(os.environ["BENCH_DATA"]).read_text(encoding="utf-8"))
PROJECTS: list[tuple[str, int]] = [(k, n) for k, n in DATA["projects"] if n > 0]
CUMULATIVE = list(itertools.accumulate(n for _, n in PROJECTS))
TOTAL = CUMULATIVE[-1]
ZIPF_S = 1.2
ZIPF_RANKS = min(TOTAL, 100_000)  # ranks past 100,000 carry under 0.3% of Zipf(1.2)'s mass
ZIPF_CDF = list(itertools.accumulate(1 / (r**ZIPF_S) for r in range(1, ZIPF_RANKS + 1)))
HOT_KEYS = 100
# Think time between a client's requests, in seconds (bench/load.py --think): "min,max".
THINK = tuple(float(x) for x in (os.environ.get("BENCH_THINK") or "0.1,0.5").split(","))
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
NEXT_RE = re.compile(r'href="([^"]+)" rel="next"')
_users = itertools.count()
_logged_in = itertools.count(1)
_deep_lock = threading.Lock()
_deep_url: str | None = None
# The page-cache experiment bench/load.py sets up: {"name", "percent_off"} (absent: no cache-off journeys).
SPLIT: dict[str, Any] | None = DATA.get("cache_off_split")
MAX_LOGINS = 64  # a session lands in a variant with probability ~1/2 per login: 64 misses do not happen
_staff_lock = threading.Lock()
_staff_cookie: str | None = None  # the session of the staff member's login, shared by this process's clients


def key_at(index: int) -> str:
    """Return the key of issue number `index` (0-based) in the concatenation of every project's issues."""
    p = bisect.bisect_right(CUMULATIVE, index)
    start = CUMULATIVE[p - 1] if p else 0
    return f"{PROJECTS[p][0]}-{index - start + 1}"


def session_bucket(name: str, session_key: str) -> int:
    """Return the session's number 0..9999 for a switch: perf.switches.session_bucket (a test keeps them equal)."""
    digest = hashlib.blake2b(f"{name}:{session_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10000


def cache_is_off(session_key: str) -> bool:
    """Return whether the split puts this session in the page cache's "off" variant."""
    assert SPLIT is not None
    return session_bucket(SPLIT["name"], session_key) < SPLIT["percent_off"] * 100


def shuffled(rank: int) -> int:
    """Return a fixed pseudo-random issue index for a popularity rank (hot issues spread over all projects)."""
    return (rank * 2_654_435_761 + 97) % TOTAL


class Client(HttpUser):
    """One logged-in person clicking around Taskra."""

    wait_time = between(THINK[0], THINK[-1])

    def on_start(self) -> None:
        self.username = DATA["users"][next(_users) % len(DATA["users"])]
        self.off: HttpSession | None = None
        if SPLIT is None:
            self._login(self.client)
        else:
            # The main session in the cache's "on" variant; a second session in "off" for the cache-off journeys.
            self._login_in_variant(self.client, off=False)
            self.off = HttpSession(self.host or "", self.environment.events.request, self)
            self._login_in_variant(self.off, off=True)
        self.rng = random.Random(self.username)
        self._find_deep_page()
        self._staff = self._staff_session() if DATA.get("staff_user") else None
        # Logins (PBKDF2 on purpose) and the walk to the deep page are start-up, not journeys: the statistics
        # start over once the last client is in, so every figure is of the journeys at full concurrency.
        runner = self.environment.runner
        if runner is not None and next(_logged_in) == getattr(runner, "target_user_count", -1):
            self.environment.stats.reset_all()

    def _login(self, session: HttpSession) -> str:
        """Log in through the form on this session; return its session key."""
        session.cookies.clear()
        page = session.get("/accounts/login/", name="login form")
        token = CSRF_RE.search(page.text)
        response = session.post(
            "/accounts/login/",
            data={
                "username": self.username,
                "password": DATA["password"],
                "csrfmiddlewaretoken": token[1] if token else "",
            },
            headers={"Referer": (self.host or "") + "/accounts/login/"},
            name="login",
            allow_redirects=False,
        )
        if response.status_code != 302:
            raise RuntimeError(f"login of {self.username} failed: HTTP {response.status_code}")
        return session.cookies.get(DATA.get("session_cookie", "sessionid")) or ""

    def _login_in_variant(self, session: HttpSession, *, off: bool) -> None:
        """Log in again until the switch's split puts the session in the wanted variant (about two logins)."""
        for _ in range(MAX_LOGINS):
            if cache_is_off(self._login(session)) == off:
                return
        raise RuntimeError(f"{self.username}: no session in the page cache's {'off' if off else 'on'} variant")

    def _csrf(self) -> str:
        return self.client.cookies.get("csrftoken") or ""

    # ------------------------------------------------------------------------------ the floor

    @task(4)
    def floor(self) -> None:
        # A logged-in client is sent on from the login page (302 to the home page): the redirect alone is the
        # trivial page every ratio is taken against, so it is not followed (the home page is no floor).
        self.client.get("/accounts/login/", name="floor: GET /accounts/login/", allow_redirects=False)

    # --------------------------------------------------------------------------- the navigator

    @task(3)
    def navigator_first(self) -> None:
        self.client.get("/issues/", name="navigator page 1")

    def _find_deep_page(self) -> None:
        global _deep_url
        with _deep_lock:
            if _deep_url is None:
                # Found once per Locust process by following "Next" DEEP_PAGES times.
                url = "/issues/"
                for _ in range(DATA["deep_pages"]):
                    found = NEXT_RE.search(self.client.get(url, name="(setup: walking to the deep page)").text)
                    if not found:
                        break
                    url = "/issues/" + found[1].replace("&amp;", "&")
                _deep_url = url

    @task(3)
    def navigator_deep(self) -> None:
        self.client.get(_deep_url or "/issues/", name="navigator deep page")

    @task(3)
    def jql_text(self) -> None:
        self.client.get("/issues/?" + urlencode({"jql": f'text ~ "{DATA["text_word"]}"'}), name="JQL text ~")

    @task(3)
    def jql_assignee(self) -> None:
        who = self.rng.choice(DATA["assignees"])
        jql = f'assignee = "{who}" AND status != Done'
        self.client.get("/issues/?" + urlencode({"jql": jql}), name="JQL assignee AND status")

    @task(3)
    def rest_search(self) -> None:
        who = self.rng.choice(DATA["assignees"])
        jql = f'assignee = "{who}" AND status != Done ORDER BY updated DESC'
        self.client.get("/rest/api/2/search?" + urlencode({"jql": jql, "maxResults": 50}), name="REST search")

    # The same JQL searches in a session the page-cache experiment put in variant "off" (module docstring).

    @task(3 if SPLIT else 0)
    def jql_text_cache_off(self) -> None:
        assert self.off is not None
        query = urlencode({"jql": f'text ~ "{DATA["text_word"]}"'})
        self.off.get("/issues/?" + query, name="JQL text ~ (cache off)")

    @task(3 if SPLIT else 0)
    def jql_assignee_cache_off(self) -> None:
        assert self.off is not None
        who = self.rng.choice(DATA["assignees"])
        jql = f'assignee = "{who}" AND status != Done'
        self.off.get("/issues/?" + urlencode({"jql": jql}), name="JQL assignee AND status (cache off)")

    @task(3 if SPLIT else 0)
    def rest_search_cache_off(self) -> None:
        assert self.off is not None
        who = self.rng.choice(DATA["assignees"])
        jql = f'assignee = "{who}" AND status != Done ORDER BY updated DESC'
        query = urlencode({"jql": jql, "maxResults": 50})
        self.off.get("/rest/api/2/search?" + query, name="REST search (cache off)")

    # --------------------------------------------------------------------------- issue pages

    @task(4)
    def issue_uniform(self) -> None:
        self.client.get(f"/browse/{key_at(self.rng.randrange(TOTAL))}", name="issue page uniform")

    @task(4)
    def issue_zipf(self) -> None:
        rank = bisect.bisect_left(ZIPF_CDF, self.rng.random() * ZIPF_CDF[-1])
        self.client.get(f"/browse/{key_at(shuffled(rank))}", name="issue page Zipf 1.2")

    @task(4)
    def issue_hot(self) -> None:
        self.client.get(f"/browse/{key_at(shuffled(self.rng.randrange(HOT_KEYS)))}", name="issue page 100 hot keys")

    # --------------------------------------------------------------------------- the admin

    def _staff_session(self) -> HttpSession:
        """Return this client's session of the staff member bench/load.py prepared (one login per process)."""
        global _staff_cookie
        with _staff_lock:
            if _staff_cookie is None:
                # PBKDF2 on purpose: logged in once per Locust process, at start-up, and shared by every client.
                login = HttpSession(self.host or "", self.environment.events.request, self)
                login.trust_env = False
                token = CSRF_RE.search(login.get("/accounts/login/", name="(setup: staff login form)").text)
                response = login.post(
                    "/accounts/login/",
                    data={"username": DATA["staff_user"], "password": DATA["password"],
                          "csrfmiddlewaretoken": token[1] if token else ""},
                    headers={"Referer": (self.host or "") + "/accounts/login/"},
                    name="(setup: staff login)", allow_redirects=False,
                )  # fmt: skip
                if response.status_code != 302:
                    raise RuntimeError(f"login of {DATA['staff_user']} failed: HTTP {response.status_code}")
                _staff_cookie = login.cookies.get("sessionid") or ""
        staff = HttpSession(self.host or "", self.environment.events.request, self)
        staff.trust_env = False
        staff.cookies.set("sessionid", _staff_cookie)
        return staff

    @task(2)
    def admin_search(self) -> None:
        # The staff member searches the admin's issue list by a key uniform over all issues, as support staff do.
        staff: HttpSession | None = self._staff
        if staff is None:  # no staff member prepared (bench/load.py's quick mode)
            return
        key = key_at(self.rng.randrange(TOTAL))
        with staff.get(
            "/admin/issues/issue/?" + urlencode({"q": key}), name="admin search by issue key", catch_response=True
        ) as response:
            if response.status_code != 200 or f">{key}</a>" not in response.text:
                response.failure(f"HTTP {response.status_code}, {key} not listed")

    # --------------------------------------------------------------------------- time tracking

    @task(2)
    def log_work(self) -> None:
        key = f"{DATA['log_project']}-{self.rng.randint(1, DATA['log_project_issues'])}"
        now = dt.datetime.now(dt.UTC)
        data = {
            "time_spent": "15m",
            "started_date": now.date().isoformat(),
            "started_time": "09:00",
            "comment": "load test",
            "adjust_estimate": "auto",
            "form_token": uuid.uuid4().hex,
            "csrfmiddlewaretoken": self._csrf(),
        }
        with self.client.post(
            f"/browse/{key}/worklogs", data=data, headers={"Referer": (self.host or "") + f"/browse/{key}"},
            name="log work (POST)", allow_redirects=False, catch_response=True,
        ) as response:  # fmt: skip
            if response.status_code != 302:
                response.failure(f"HTTP {response.status_code}")

    @task(2)
    def timesheet(self) -> None:
        self.client.get("/timesheet/", name="timesheet (own week)")

    @task(2)
    def month_report(self) -> None:
        report = DATA["report"]
        self.client.get("/reports/?" + urlencode(report), name="month report (one project)")

    @task(1)
    def export(self) -> None:
        query = urlencode({"format": "csv", "jql": f"project = {DATA['export_project']}"})
        with self.client.get(
            f"/issues/export?{query}", name=f"export CSV ({DATA['export_rows']} rows)", stream=True,
            catch_response=True,
        ) as response:  # fmt: skip
            size = sum(len(chunk) for chunk in response.iter_content(65536))
            if response.status_code != 200 or size == 0:
                response.failure(f"HTTP {response.status_code}, {size} bytes")
