"""The dashboard over real HTTP: who may see it, and whether what it shows is the store.

An engine on loopback is filled by twenty simulated calls over three lines
(`tests/dashboard_calls.py`); every number the pages show is compared with a count taken
here, in plain SQL, from the engine's own database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import event

from engine.dashboard import queries as q
from engine.dashboard.auth import FREE_TRIES, Throttle
from tests.dashboard_calls import (
    CALLS,
    FLOWS,
    NEEDS_CALL_BACK,
    NUMBERS,
    WAV,
    Filled,
    filled_engine,
)

PASSWORD = "correct horse battery staple"
ZONES = {"salon": "Europe/Warsaw", "plumber": "America/New_York", "dentist": "Europe/London"}


@pytest.fixture(scope="module")
def filled() -> Iterator[Filled]:
    """One engine with a dashboard, filled once for the module: 20 calls, 3 lines."""
    with filled_engine(PASSWORD) as engine:
        yield engine


@pytest.fixture
def clients() -> Iterator[Callable[..., httpx.Client]]:
    """HTTP clients for a test, each with its own cookies, closed after it."""
    made: list[httpx.Client] = []

    def make(url: str, **options: Any) -> httpx.Client:
        made.append(httpx.Client(base_url=url, timeout=10, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


def logged_in(url: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    response = client.post("/dashboard/login", data={
        "csrf": csrf_of(client.get("/dashboard/login").text), "password": password,
    })
    assert response.status_code == 303, response.text
    return client


def fetch(url: str, path: str) -> httpx.Response:
    """One page, as a user who has just logged in."""
    client = logged_in(url)
    try:
        return client.get(path)
    finally:
        client.close()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the form has no CSRF token"
    return found.group(1)


def counts_on(page: str) -> dict[tuple[str, str], int]:
    """`{(line, key): number}` from the overview's `data-line` rows and `data-count` cells."""
    found = {}
    for row in re.finditer(r'<tr data-line="([^"]+)"[^>]*>(.*?)</tr>', page, re.DOTALL):
        for key, value in re.findall(r'data-count="([^"]+)">(\d+)<', row.group(2)):
            found[(row.group(1), key)] = int(value)
    return found


def calls_on(page: str) -> list[str]:
    return re.findall(r'<tr data-call="([^"]+)"', page)


# --- who may see it ----------------------------------------------------------------


def test_without_a_password_the_dashboard_is_not_there(serve: Any) -> None:
    engine = serve()
    for path in ("/dashboard", "/dashboard/", "/dashboard/login", "/dashboard/calls"):
        assert httpx.get(engine.url + path).status_code == 404, path


def test_every_page_sends_a_stranger_to_the_login_form(serve: Any) -> None:
    engine = serve(dashboard_password=PASSWORD)
    first = httpx.get(engine.url + "/dashboard")
    assert (first.status_code, first.headers["location"]) == (303, "/dashboard/")
    for path in ("/dashboard/", "/dashboard/calls?line=x", "/dashboard/callers/salon/+481",
                 "/dashboard/voicemail/CA1"):
        response = httpx.get(engine.url + path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/dashboard/login?next="), path
    assert httpx.get(engine.url + "/healthz").status_code == 200


def test_the_session_cookie_is_signed_http_only_and_same_site(serve: Any, clients: Any) -> None:
    engine = serve(dashboard_password=PASSWORD)
    client = clients(engine.url)
    client.get("/dashboard/login")
    cookie = client.post("/dashboard/login", data={
        "csrf": csrf_of(client.get("/dashboard/login").text), "password": PASSWORD,
    }).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/dashboard" in cookie
    assert "secure" not in cookie  # plain http on loopback
    forged = clients(engine.url, cookies={"ringback_session": "eyJ1c2VyIjoibWUifQ"})
    assert forged.get("/dashboard/").status_code == 303


def test_behind_https_the_cookie_is_secure(serve: Any) -> None:
    engine = serve(dashboard_password=PASSWORD, public_url="https://calls.example.com")
    response = httpx.get(engine.url + "/dashboard/login")
    assert "secure" in response.headers["set-cookie"].lower()


def test_a_login_without_the_forms_token_is_refused(serve: Any, clients: Any) -> None:
    engine = serve(dashboard_password=PASSWORD)
    client = clients(engine.url)
    client.get("/dashboard/login")
    refused = client.post("/dashboard/login", data={"csrf": "guess", "password": PASSWORD})
    assert refused.status_code == 403
    other = clients(engine.url)
    token = csrf_of(other.get("/dashboard/login").text)
    assert client.post("/dashboard/login", data={"csrf": token, "password": PASSWORD}) \
        .status_code == 403
    own = csrf_of(client.get("/dashboard/login").text)
    elsewhere = client.post("/dashboard/login", data={"csrf": own, "password": PASSWORD},
                            headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403


def test_logging_out_needs_the_token_and_ends_the_session(serve: Any, clients: Any) -> None:
    engine = serve(dashboard_password=PASSWORD)
    client = clients(engine.url)
    client.post("/dashboard/login", data={
        "csrf": csrf_of(client.get("/dashboard/login").text), "password": PASSWORD})
    client.post("/dashboard/logout", data={"csrf": "wrong"})
    page = client.get("/dashboard/")
    assert page.status_code == 200
    client.post("/dashboard/logout", data={"csrf": csrf_of(page.text)})
    assert client.get("/dashboard/").status_code == 303


def test_five_wrong_passwords_in_a_row_slow_the_next_attempt(serve: Any, clients: Any) -> None:
    engine = serve(dashboard_password=PASSWORD)
    client = clients(engine.url)
    token = csrf_of(client.get("/dashboard/login").text)
    for _ in range(FREE_TRIES):
        wrong = client.post("/dashboard/login", data={"csrf": token, "password": "nope"})
        assert wrong.status_code == 401
    slowed = client.post("/dashboard/login", data={"csrf": token, "password": PASSWORD})
    assert slowed.status_code == 429
    assert int(slowed.headers["retry-after"]) >= 1
    assert "ringback_session" not in slowed.headers.get("set-cookie", "") or \
        client.get("/dashboard/").status_code == 303


def test_the_wait_grows_with_each_failure_and_a_success_clears_it() -> None:
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    keys = ["address:127.0.0.1"]
    for _ in range(FREE_TRIES - 1):
        throttle.failed(keys)
    assert throttle.wait(keys) == 0
    throttle.failed(keys)
    first = throttle.wait(keys)
    assert first > 0
    now[0] += first
    assert throttle.wait(keys) == 0
    throttle.failed(keys)
    assert throttle.wait(keys) == 2 * first
    throttle.succeeded(keys)
    assert throttle.wait(keys) == 0


def test_named_users_log_in_with_their_own_password(serve: Any, clients: Any) -> None:
    engine = serve(dashboard_users="alice:wonderland, bob:builder")
    client = clients(engine.url)
    page = client.get("/dashboard/login").text
    assert 'name="name"' in page
    wrong = client.post("/dashboard/login", data={
        "csrf": csrf_of(page), "name": "alice", "password": "builder"})
    assert wrong.status_code == 401
    right = client.post("/dashboard/login", data={
        "csrf": csrf_of(page), "name": "bob", "password": "builder"})
    assert right.status_code == 303


def test_pages_fetch_nothing_from_outside_and_run_no_script(filled: Filled, clients: Any) -> None:
    client = clients(filled.engine.url)
    client.post("/dashboard/login", data={
        "csrf": csrf_of(client.get("/dashboard/login").text), "password": PASSWORD})
    for path in ("/dashboard/", "/dashboard/calls", "/dashboard/callers/salon/+48601000003"):
        page = client.get(path)
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert "<script" not in page.text
        assert not re.search(r'(src|href)="(https?:)?//', page.text), path


def test_text_from_callers_is_escaped(filled: Filled) -> None:
    filled.engine.post("/sms", {
        # A number that never called: the scenario's call-back list stays as planned.
        "MessageSid": "SM" + "e" * 32, "From": "+12125550999", "To": NUMBERS["plumber"],
        "Body": "<img src=x onerror=alert(1)>", "AccountSid": "AC" + "0" * 32,
    })
    page = fetch(filled.engine.url, "/dashboard/callers/plumber/+12125550999").text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


# --- what it shows -----------------------------------------------------------------


def expected_counts(filled: Filled, line: str | None) -> dict[str, int]:
    """The overview's numbers, counted here in SQL over the last 30 days."""
    since = (datetime.now(UTC) - timedelta(days=30)).replace(tzinfo=None)
    on_line = "AND c.flow_id = :line" if line else ""
    numbers = [NUMBERS[line]] if line else list(NUMBERS.values())
    args = {"line": line, "since": since}
    calls_sql = f"SELECT count(*) FROM calls c WHERE c.started_at >= :since {on_line}"
    texts_sql = (f"SELECT count(*) FROM messages m JOIN calls c ON c.call_sid = m.call_sid "
                 f"WHERE c.started_at >= :since {on_line}")
    replies_sql = ("SELECT count(*) FROM replies WHERE line IN ("
                   + ", ".join(f"'{n}'" for n in numbers) + ")")
    counts = {
        "calls": filled.one(calls_sql, **args),
        "answered": filled.one(calls_sql + " AND c.answered", **args),
        "missed": filled.one(calls_sql + " AND NOT c.answered AND c.state = 'ended'", **args),
        "sent": filled.one(texts_sql + " AND m.status IN ('sent', 'delivered', 'undelivered')",
                           **args),
        "delivered": filled.one(texts_sql + " AND m.status = 'delivered'", **args),
        "skipped": filled.one(texts_sql + " AND m.status = 'skipped'", **args),
        "replies": filled.one(replies_sql),
        "opt_outs": filled.one(replies_sql + " AND kind = 'opt-out'"),
    }
    for trigger in ("busy", "missed", "out_of_hours", "weekend", "failed"):
        counts[f"missed:{trigger}"] = filled.one(
            calls_sql + " AND NOT c.answered AND c.state = 'ended' AND c.trigger = :t",
            t=trigger, **args)
    for reason in ("no-caller-id", "landline", "cooldown", "opted-out"):
        counts[f"skipped:{reason}"] = filled.one(
            texts_sql + " AND m.status = 'skipped' AND m.reason = :r", r=reason, **args)
    return counts


def test_every_count_on_the_overview_equals_the_store(filled: Filled) -> None:
    page = fetch(filled.engine.url, "/dashboard/")
    shown = counts_on(page.text)
    assert filled.one("SELECT count(*) FROM calls") == len(CALLS) == 20
    assert {line for line, _ in shown} == {"all", *FLOWS}
    for line in (None, *FLOWS):
        for key, number in expected_counts(filled, line).items():
            assert shown[(line or "all", key)] == number, (line, key)
    mix = expected_counts(filled, None)
    assert min(mix["answered"], mix["missed:busy"], mix["missed:missed"],
               mix["missed:out_of_hours"], mix["skipped:landline"],
               mix["skipped:no-caller-id"], mix["delivered"], mix["replies"]) > 0


def test_the_chart_has_thirty_days_of_missed_calls_and_texts(filled: Filled) -> None:
    page = fetch(filled.engine.url, "/dashboard/").text
    missed = [int(v) for v in re.findall(r'class="missed" data-value="(\d+)"', page)]
    sent = [int(v) for v in re.findall(r'class="sent" data-value="(\d+)"', page)]
    assert len(missed) == len(sent) == 30
    assert sum(missed) == filled.one(
        "SELECT count(*) FROM calls WHERE NOT answered AND state = 'ended'")
    assert sum(sent) == filled.one(
        "SELECT count(*) FROM messages WHERE status IN ('sent', 'delivered', 'undelivered')")


def test_the_call_list_is_newest_first(filled: Filled) -> None:
    page = fetch(filled.engine.url, "/dashboard/calls").text
    newest_first = filled.sql("SELECT call_sid FROM calls ORDER BY started_at DESC, call_sid DESC")
    assert calls_on(page) == [row.call_sid for row in newest_first]


@pytest.mark.parametrize(
    ("query", "sql"),
    [
        pytest.param("line=plumber", "SELECT call_sid FROM calls WHERE flow_id = 'plumber'",
                     id="one line"),
        pytest.param("trigger=busy", "SELECT call_sid FROM calls WHERE trigger = 'busy' "
                     "AND NOT answered", id="busy calls"),
        pytest.param("trigger=answered", "SELECT call_sid FROM calls WHERE answered",
                     id="answered calls"),
        pytest.param("text=skipped:landline", "SELECT call_sid FROM messages "
                     "WHERE reason = 'landline'", id="texts skipped for landlines"),
        pytest.param("text=delivered", "SELECT call_sid FROM messages "
                     "WHERE status = 'delivered'", id="texts delivered"),
        pytest.param("text=none", "SELECT call_sid FROM calls WHERE call_sid NOT IN "
                     "(SELECT call_sid FROM messages)", id="calls without a text"),
        pytest.param("line=salon&trigger=busy", "SELECT call_sid FROM calls WHERE "
                     "flow_id = 'salon' AND trigger = 'busy' AND NOT answered",
                     id="busy calls on one line"),
    ],
)
def test_the_call_list_filters(filled: Filled, query: str, sql: str) -> None:
    page = fetch(filled.engine.url, f"/dashboard/calls?{query}").text
    expected = {row.call_sid for row in filled.sql(sql)}
    assert expected and set(calls_on(page)) == expected


def test_a_date_filter_uses_each_lines_own_calendar(filled: Filled) -> None:
    rows = filled.sql("SELECT call_sid, flow_id, started_at FROM calls")
    local = {row.call_sid: datetime.fromisoformat(str(row.started_at)).replace(tzinfo=UTC)
             .astimezone(ZoneInfo(ZONES[row.flow_id])).date() for row in rows}
    day: date = sorted(local.values())[len(local) // 2]
    page = fetch(filled.engine.url, f"/dashboard/calls?from={day}&to={day}").text
    assert set(calls_on(page)) == {sid for sid, on in local.items() if on == day}


def test_needs_a_call_back_lists_the_missed_callers_nobody_reached(filled: Filled) -> None:
    page = fetch(filled.engine.url, "/dashboard/calls?callback=1").text
    shown = set(re.findall(r'href="/dashboard/callers/([^/]+)/([^"]+)"', page))
    assert shown == NEEDS_CALL_BACK


def test_paging_walks_every_call_once_in_order(filled: Filled) -> None:
    lines = {name: q.Line(name, name, (NUMBERS[name],), ZoneInfo(ZONES[name])) for name in FLOWS}
    seen: list[str] = []
    cursor = None
    with filled.engine.store.engine.connect() as connection:
        while True:
            page = q.page_of_calls(connection, lines, q.Filters(), cursor, size=6)
            seen += [row.call_sid for row in page.rows]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    newest_first = filled.sql("SELECT call_sid FROM calls ORDER BY started_at DESC, call_sid DESC")
    assert seen == [row.call_sid for row in newest_first]


def test_the_list_queries_use_the_stores_indexes(filled: Filled) -> None:
    lines = {name: q.Line(name, name, (NUMBERS[name],), ZoneInfo(ZONES[name])) for name in FLOWS}
    engine = filled.engine.store.engine
    fetch(filled.engine.url, "/dashboard/")  # creates the indexes on first use
    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with engine.connect() as connection:
            q.page_of_calls(connection, lines, q.Filters())
            q.page_of_calls(connection, lines, q.Filters(line="salon", callback=True))
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        listing = [s for s in statements if "ORDER BY calls.started_at DESC" in s[0]]
        assert len(listing) == 2
        for statement, params in listing:
            plan = " ".join(str(r[3]) for r in raw.execute("EXPLAIN QUERY PLAN " + statement,
                                                            params))
            assert "SCAN calls USING INDEX" in plan or "SEARCH calls USING INDEX" in plan, plan
            assert "USE TEMP B-TREE FOR ORDER BY" not in plan, plan


def test_a_callers_page_shows_every_call_and_text_in_order(filled: Filled) -> None:
    page = fetch(filled.engine.url, "/dashboard/callers/salon/+48601000002").text
    calls = filled.sql("SELECT call_sid FROM calls WHERE flow_id = 'salon' AND caller = "
                       "'+48601000002' ORDER BY started_at")
    texts = filled.sql("SELECT m.id FROM messages m JOIN calls c ON c.call_sid = m.call_sid "
                       "WHERE c.caller = '+48601000002' ORDER BY c.started_at, m.id")
    assert re.findall(r'data-call="([^"]+)"', page) == [row.call_sid for row in calls]
    assert re.findall(r'data-text="(\d+)"', page) == [str(row.id) for row in texts]
    assert "Can you call me after 5?" in page
    assert page.index('data-call="' + calls[-1].call_sid) < page.index("Can you call me")


def test_each_text_shows_its_decision_trace(filled: Filled) -> None:
    page = fetch(filled.engine.url, "/dashboard/callers/salon/+48601000002").text
    cooled = page[page.index("skipped: cooldown"):]
    verdicts = re.findall(r"<td>([a-z-]+)</td><td class=\"([a-z-]+)\">", cooled)[:4]
    assert verdicts == [("caller-id", "passed"), ("landline", "passed"),
                        ("opted-out", "passed"), ("cooldown", "refused")]
    assert "trigger busy, step on.busy.0" in page
    landline = fetch(filled.engine.url, "/dashboard/callers/salon/+48221234567").text
    assert re.findall(r"<td>([a-z-]+)</td><td class=\"([a-z-]+)\">", landline) == [
        ("caller-id", "passed"), ("landline", "refused"), ("opted-out", "not-checked"),
        ("cooldown", "not-checked")]


def test_times_are_shown_in_the_lines_zone(filled: Filled) -> None:
    row = filled.sql("SELECT call_sid, started_at FROM calls WHERE flow_id = 'plumber' "
                     "ORDER BY started_at LIMIT 1")[0]
    moment = datetime.fromisoformat(str(row.started_at)).replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M %Z")
    page = fetch(filled.engine.url, "/dashboard/calls?line=plumber").text
    cells = re.search(rf'<tr data-call="{row.call_sid}">\s*<td>([^<]+)</td>', page)
    assert cells and cells.group(1) == local


def test_a_voicemail_plays_from_the_dashboard(filled: Filled, clients: Any) -> None:
    sids = [row.call_sid for row in filled.sql(
        "SELECT call_sid FROM calls WHERE recording_url IS NOT NULL")]
    assert sids
    client = clients(filled.engine.url)
    client.post("/dashboard/login", data={
        "csrf": csrf_of(client.get("/dashboard/login").text), "password": PASSWORD})
    page = client.get("/dashboard/calls").text
    assert set(re.findall(r'href="/dashboard/voicemail/([^"]+)"', page)) == set(sids)
    audio = client.get(f"/dashboard/voicemail/{sids[0]}")
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav" and audio.content == WAV
    assert client.get("/dashboard/voicemail/CA" + "0" * 32).status_code == 404
