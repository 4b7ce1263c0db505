"""The dashboard in a real browser: Debian's Chromium, driven by Playwright.

An engine on loopback is filled by twenty simulated calls over three lines; the browser
logs in, reads the overview and checks each number against the store, filters the call
list, opens a caller, plays a voicemail and logs out. Screenshots of the overview, the
filtered list and a caller's page are kept in `tests/artifacts/` (or
`$RINGBACK_ARTIFACTS`), and their paths printed.

Chromium comes from Debian (`apt-get install chromium`), never from `playwright install`.
Without it the tests skip, except under CI (`CI=true`), where they must run.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_calls import NEEDS_CALL_BACK, NUMBERS, Filled, filled_engine

CHROMIUM = Path(os.environ.get("RINGBACK_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("RINGBACK_ARTIFACTS", Path(__file__).parent / "artifacts"))
PASSWORD = "open sesame, browser"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio"]


def _missing(reason: str) -> None:
    """Skip on a developer's machine; fail under CI, where the browser must be there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run; .ci/run installs it)")
    pytest.skip(f"{reason}: install it with `apt-get install chromium` to run browser tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def filled() -> Iterator[Filled]:
    with filled_engine(PASSWORD) as engine:
        yield engine


@pytest.fixture
def page(browser: Any, filled: Filled) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def log_in(page: Any, filled: Filled) -> None:
    page.goto(filled.engine.url + "/dashboard/")
    assert "/dashboard/login" in page.url
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(filled.engine.url + "/dashboard/")


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def shown_counts(page: Any) -> dict[tuple[str, str], int]:
    cells = page.eval_on_selector_all(
        "tr[data-line] td[data-count]",
        "cells => cells.map(c => [c.closest('tr').dataset.line, c.dataset.count, c.textContent])",
    )
    return {(line, key): int(value) for line, key, value in cells}


def store_counts(filled: Filled) -> dict[tuple[str, str], int]:
    """The same numbers, counted in SQL: calls and texts of the last 30 days, by line."""
    found: dict[tuple[str, str], int] = {}
    recent = "c.started_at >= datetime('now', '-30 days')"
    rows = filled.sql(f"""
        SELECT c.flow_id, c.answered, c.state, c.trigger, count(*) AS n FROM calls c
        WHERE {recent} GROUP BY 1, 2, 3, 4""")
    texts = filled.sql(f"""
        SELECT c.flow_id, m.status, m.reason, count(*) AS n FROM messages m
        JOIN calls c ON c.call_sid = m.call_sid WHERE {recent} GROUP BY 1, 2, 3""")
    for row in rows:
        for line in ("all", row.flow_id):
            _add(found, line, "calls", row.n)
            if row.answered:
                _add(found, line, "answered", row.n)
            elif row.state == "ended":
                _add(found, line, "missed", row.n)
                _add(found, line, f"missed:{row.trigger}", row.n)
    for row in texts:
        for line in ("all", row.flow_id):
            if row.status == "skipped":
                _add(found, line, "skipped", row.n)
                _add(found, line, f"skipped:{row.reason}", row.n)
            if row.status in ("sent", "delivered", "undelivered"):
                _add(found, line, "sent", row.n)
            if row.status == "delivered":
                _add(found, line, "delivered", row.n)
    flow_of = {number: flow for flow, number in NUMBERS.items()}
    for row in filled.sql("SELECT line, kind, count(*) AS n FROM replies GROUP BY 1, 2"):
        for line in ("all", flow_of[row.line]):
            _add(found, line, "replies", row.n)
            if row.kind == "opt-out":
                _add(found, line, "opt_outs", row.n)
    return found


def _add(found: dict[tuple[str, str], int], line: str, key: str, number: int) -> None:
    found[(line, key)] = found.get((line, key), 0) + number


def test_the_overview_in_a_browser_matches_the_store(page: Any, filled: Filled) -> None:
    log_in(page, filled)
    shown = shown_counts(page)
    expected = store_counts(filled)
    assert expected[("all", "calls")] == 20
    for key, number in expected.items():
        assert shown[key] == number, key
    zeros = {key: value for key, value in shown.items() if key not in expected}
    assert set(zeros.values()) <= {0}, zeros
    assert page.locator("svg.chart rect.missed").count() == 30
    assert screenshot(page, "dashboard-overview.png").stat().st_size > 0


def test_filter_open_a_caller_play_a_voicemail_and_log_out(page: Any, filled: Filled) -> None:
    log_in(page, filled)
    page.click("header >> text=Calls")
    page.select_option("select[name=line]", "plumber")
    page.select_option("select[name=trigger]", "busy")
    page.click("#filter")
    page.wait_for_url(re.compile(r".*/dashboard/calls\?.*line=plumber.*"))
    busy = filled.sql("SELECT call_sid FROM calls WHERE flow_id = 'plumber' "
                      "AND trigger = 'busy' AND NOT answered")
    rows = page.eval_on_selector_all("tr[data-call]", "rows => rows.map(r => r.dataset.call)")
    assert sorted(rows) == sorted(row.call_sid for row in busy)
    screenshot(page, "dashboard-calls.png")

    page.click("header >> text=Needs a call back")
    links = page.eval_on_selector_all("a.caller", "links => links.map(a => a.pathname)")
    assert {tuple(link.split("/")[-2:]) for link in links} == NEEDS_CALL_BACK

    page.goto(filled.engine.url + "/dashboard/calls?line=salon")
    page.click('tr:has(a.voicemail) a.caller[href$="/salon/+48601000003"]')
    page.wait_for_url(re.compile(r".*/dashboard/callers/salon/\+48601000003$"))
    calls = filled.sql("SELECT call_sid FROM calls WHERE caller = '+48601000003' "
                       "ORDER BY started_at")
    shown = page.eval_on_selector_all("section.call", "calls => calls.map(c => c.dataset.call)")
    assert shown == [row.call_sid for row in calls]
    assert page.locator("table.trace").count() == 1
    screenshot(page, "dashboard-caller.png")

    played = page.eval_on_selector(
        "audio", "audio => { audio.muted = true; return audio.play().then(() => audio.src) }"
    )
    assert "/dashboard/voicemail/" in played
    page.wait_for_function("document.querySelector('audio').currentTime > 0")
    with page.expect_response(re.compile(r".*/dashboard/voicemail/.*")) as answer:
        page.click("a.voicemail")
    assert answer.value.status == 200
    assert answer.value.headers["content-type"] == "audio/wav"

    page.goto(filled.engine.url + "/dashboard/")
    page.click("#logout")
    page.wait_for_url(re.compile(r".*/dashboard/login$"))
    page.goto(filled.engine.url + "/dashboard/calls")
    assert "/dashboard/login" in page.url
