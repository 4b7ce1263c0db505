"""The steps of the language on the phone: menu, goto, screened dials, max_calls, per-dial
`on`, record and time_limit, the holiday and failed triggers and their fallbacks.

Each test drives `engine.flows.calls.Calls` as Twilio's webhooks would, on a real store,
and reads the TwiML and the texts decided. Expected values come from the flow-language
spec and Twilio's TwiML rules, not from the engine's output.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.flows.calls import Calls, Reply
from engine.flows.registry import FlowSet
from engine.store import Store, calls

LONDON = ZoneInfo("Europe/London")
TUESDAY = datetime(2026, 5, 5, 10, 0, tzinfo=LONDON)
LINE = "+442079460000"
CALLER = "+447911123456"

HEAD = """\
line: "+44 20 7946 0000"
business: Garage
region: GB
timezone: Europe/London
"""

Engine = Callable[..., tuple[Calls, Store]]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    """Compile a flow body under HEAD and give back the call logic on a fresh store."""
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.create()

    def start(body: str, head: str = HEAD) -> tuple[Calls, Store]:
        path = tmp_path / "garage.yaml"
        path.write_text(head + body)
        flows = FlowSet.of([path])
        assert not flows.refused, flows.refused
        return Calls(lambda: flows, store, clock=lambda: TUESDAY), store

    return start


def params(sid: str = "CA1", **more: str) -> dict[str, str]:
    return {"CallSid": sid, "From": CALLER, "To": LINE, "CallStatus": "in-progress", **more}


def verbs(reply: Reply) -> list[str]:
    return [verb.tag for verb in ET.fromstring(reply.xml)]


def action_of(reply: Reply, tag: str) -> tuple[str, dict[str, str]]:
    """The path and query of the first `tag`'s action (or text, for a Redirect)."""
    element = ET.fromstring(reply.xml).find(f".//{tag}")
    assert element is not None, reply.xml
    url = element.get("action") or element.get("url") or (element.text or "")
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def texts(store: Store, sid: str = "CA1") -> list[tuple[str, str]]:
    return [(m.step, m.status) for m in store.messages_for_call(sid)]


MENU = """\
on:
  open:
    - menu:
        prompt: "Press 1 for the workshop, or 2 to hear our hours."
        options:
          1: [dial: "07911 123457"]
          2: [say: "We are open weekdays from eight."]
        default: [say: "Sorry, I did not catch that."]
    - say: "Goodbye."
"""


def test_a_menu_is_a_gather_of_one_key_whose_action_carries_flow_and_step(engine: Engine) -> None:
    logic, _ = engine(MENU)
    reply = logic.incoming(params(), "https://calls.example.com", TUESDAY)
    assert verbs(reply) == ["Gather", "Redirect"]
    gather = ET.fromstring(reply.xml).find("Gather")
    assert gather is not None
    assert (gather.get("numDigits"), gather.get("timeout")) == ("1", "5")
    assert [child.tag for child in gather] == ["Say"]
    assert action_of(reply, "Gather") == ("/voice/menu", {"flow": "garage", "step": "on.open.0"})
    # No key: Twilio falls through to the Redirect, the same URL without Digits.
    assert action_of(reply, "Redirect") == action_of(reply, "Gather")


def test_a_key_runs_its_option_then_the_steps_after_the_menu(engine: Engine) -> None:
    logic, _ = engine(MENU)
    logic.incoming(params(), "https://x", TUESDAY)
    reply = logic.menu("garage", "on.open.0", params(Digits="2"), "https://x")
    said = [e.text for e in ET.fromstring(reply.xml).iter("Say")]
    assert said == ["We are open weekdays from eight.", "Goodbye."]
    assert verbs(reply)[-1] == "Hangup"


@pytest.mark.parametrize("digits", ["", "9"], ids=["no key", "a key without an option"])
def test_no_key_or_a_wrong_key_runs_the_default(engine: Engine, digits: str) -> None:
    logic, _ = engine(MENU)
    logic.incoming(params(), "https://x", TUESDAY)
    reply = logic.menu("garage", "on.open.0", params(Digits=digits), "https://x")
    said = [e.text for e in ET.fromstring(reply.xml).iter("Say")]
    assert said == ["Sorry, I did not catch that.", "Goodbye."]


def test_a_menu_answer_works_after_the_engine_restarted(engine: Engine) -> None:
    logic, _ = engine(MENU)
    logic.incoming(params(), "https://x", TUESDAY)
    restarted, _ = engine(MENU)  # a new FlowSet, compiled again, on the same store
    reply = restarted.menu("garage", "on.open.0", params(Digits="1"), "https://x")
    assert verbs(reply) == ["Dial"]
    number = ET.fromstring(reply.xml).find("Dial/Number")
    assert number is not None and number.text == "+447911123457"


GOTO = """\
on:
  open:
    - dial: "07911 123457"
  busy:
    - say: "We are busy."
    - goto: out_of_hours
  missed: [goto: out_of_hours]
  out_of_hours:
    - say: "We will text you a link."
    - sms: {text: "Garage: fill in our fault form: https://garage.example/fault"}
"""


def test_goto_continues_with_the_other_triggers_steps(engine: Engine) -> None:
    logic, store = engine(GOTO)
    logic.incoming(params(), "https://x", TUESDAY)
    reply = logic.dial_ended("garage", "on.open.0", params(DialCallStatus="busy"), "https://x")
    said = [e.text for e in ET.fromstring(reply.xml).iter("Say")]
    assert said == ["We are busy.", "We will text you a link."]
    assert texts(store) == [("on.out_of_hours.1", "pending")]


SCREENED = """\
on:
  open:
    - dial:
        to: "07911 123457"
        screen: {prompt: "A customer is calling. Press 5 to take the call.", digit: "5"}
  missed:
    - sms: {text: "Garage: sorry we missed you: https://garage.example/fault"}
"""


def test_a_screened_dial_puts_a_prompt_on_the_business_leg(engine: Engine) -> None:
    logic, _ = engine(SCREENED)
    reply = logic.incoming(params(), "https://x", TUESDAY)
    assert action_of(reply, "Number") == (
        "/voice/screen", {"flow": "garage", "step": "on.open.0"}
    )
    leg = logic.screen("garage", "on.open.0", params("CA2", ParentCallSid="CA1"))
    assert verbs(leg) == ["Gather", "Hangup"]
    assert [e.text for e in ET.fromstring(leg.xml).iter("Say")] == [
        "A customer is calling. Press 5 to take the call."
    ]
    assert action_of(leg, "Gather") == ("/voice/screened", {"flow": "garage", "step": "on.open.0"})


def test_completed_without_the_digit_is_missed(engine: Engine) -> None:
    logic, store = engine(SCREENED)
    logic.incoming(params(), "https://x", TUESDAY)
    logic.screen("garage", "on.open.0", params("CA2", ParentCallSid="CA1"))
    logic.dial_ended("garage", "on.open.0", params(DialCallStatus="completed"), "https://x")
    call = store.call("CA1")
    assert call is not None and (call.trigger, call.answered) == ("missed", False)
    assert texts(store) == [("on.missed.0", "pending")]


def test_the_digit_means_the_business_took_the_call(engine: Engine) -> None:
    logic, store = engine(SCREENED)
    logic.incoming(params(), "https://x", TUESDAY)
    wrong = logic.screened("garage", "on.open.0", params("CA2", ParentCallSid="CA1", Digits="1"))
    assert verbs(wrong) == ["Hangup"]
    took = logic.screened("garage", "on.open.0", params("CA2", ParentCallSid="CA1", Digits="5"))
    assert verbs(took) == []  # an empty document: Twilio bridges the two legs
    logic.dial_ended("garage", "on.open.0", params(DialCallStatus="completed"), "https://x")
    logic.status(params(CallStatus="completed", SequenceNumber="3"))
    call = store.call("CA1")
    assert call is not None and call.answered and texts(store) == []


MAX_CALLS = """\
on:
  open:
    - say: "Connecting you."
    - dial: {to: "07911 123457", max_calls: 1}
  busy:
    - say: "All our lines are busy."
"""


def test_max_calls_makes_one_more_call_busy_without_dialing(engine: Engine) -> None:
    logic, store = engine(MAX_CALLS)
    first = logic.incoming(params("CA1"), "https://x", TUESDAY)
    assert verbs(first) == ["Say", "Dial"]
    leg = logic.screen("garage", "on.open.1", params("CA9", ParentCallSid="CA1"))
    assert verbs(leg) == []  # no screen: bridged at once, and counted
    second = logic.incoming(params("CA2"), "https://x", TUESDAY)
    said = [e.text for e in ET.fromstring(second.xml).iter("Say")]
    assert (verbs(second), said) == (
        ["Say", "Say", "Hangup"], ["Connecting you.", "All our lines are busy."]
    )
    call = store.call("CA2")
    assert call is not None and call.trigger == "busy"
    logic.dial_ended("garage", "on.open.1", params("CA1", DialCallStatus="completed"), "x")
    third = logic.incoming(params("CA3"), "https://x", TUESDAY)
    assert verbs(third) == ["Say", "Dial"]


PER_DIAL = """\
on:
  open:
    - dial:
        to: "07911 123457"
        on:
          missed:
            - dial: {to: "+44 (0)7911 123458", timeout: 15}
  busy: [say: "Busy."]
  missed: [say: "Missed."]
"""


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param("no-answer", ["Dial"], id="missed rings the second phone"),
        pytest.param("failed", ["Dial"], id="failed falls back to the dial's missed"),
        pytest.param("busy", ["Say", "Hangup"], id="busy is left to the flow"),
    ],
)
def test_a_dials_own_on_overrides_the_flows_triggers(
    engine: Engine, status: str, expected: list[str]
) -> None:
    logic, _ = engine(PER_DIAL)
    logic.incoming(params(), "https://x", TUESDAY)
    reply = logic.dial_ended("garage", "on.open.0", params(DialCallStatus=status), "https://x")
    assert verbs(reply) == expected


def test_the_second_phone_missing_too_runs_the_flows_missed(engine: Engine) -> None:
    logic, _ = engine(PER_DIAL)
    logic.incoming(params(), "https://x", TUESDAY)
    second = logic.dial_ended("garage", "on.open.0", params(DialCallStatus="no-answer"), "x")
    number = ET.fromstring(second.xml).find("Dial/Number")
    assert number is not None and number.text == "+447911123458"
    step = action_of(second, "Dial")[1]["step"]
    assert step == "on.open.0.dial.on.missed.0"
    last = logic.dial_ended("garage", step, params(DialCallStatus="no-answer"), "x")
    assert [e.text for e in ET.fromstring(last.xml).iter("Say")] == ["Missed."]


def test_record_and_time_limit_become_dial_attributes(engine: Engine) -> None:
    logic, _ = engine('on:\n  open:\n    - dial: {to: "07911 123457", record: true, '
                      "time_limit: 900, caller_id: line}\n")
    dial = ET.fromstring(logic.incoming(params(), "x", TUESDAY).xml).find("Dial")
    assert dial is not None
    assert (dial.get("record"), dial.get("timeLimit"), dial.get("callerId")) == (
        "record-from-answer", "900", LINE
    )


FAILED = """\
on:
  open: [dial: "07911 123457"]
  missed: [say: "Missed."]
"""


def test_failed_falls_back_to_missed(engine: Engine) -> None:
    logic, store = engine(FAILED)
    logic.incoming(params(), "x", TUESDAY)
    reply = logic.dial_ended("garage", "on.open.0", params(DialCallStatus="failed"), "x")
    assert [e.text for e in ET.fromstring(reply.xml).iter("Say")] == ["Missed."]
    call = store.call("CA1")
    assert call is not None and call.trigger == "failed"


def test_failed_runs_its_own_steps_when_the_flow_has_them(engine: Engine) -> None:
    logic, _ = engine(FAILED + '  failed: [say: "Our phone is out of order."]\n')
    logic.incoming(params(), "x", TUESDAY)
    reply = logic.dial_ended("garage", "on.open.0", params(DialCallStatus="failed"), "x")
    assert [e.text for e in ET.fromstring(reply.xml).iter("Say")] == [
        "Our phone is out of order."
    ]


HOLIDAY = """\
hours: {mon-fri: "08:00-17:00"}
holidays: {country: GB, dates: [2026-05-05]}
on:
  open: [say: "Open."]
  out_of_hours: [say: "Closed."]
"""


def test_a_holiday_without_its_own_steps_runs_out_of_hours(engine: Engine) -> None:
    logic, store = engine(HOLIDAY)
    reply = logic.incoming(params(), "x", TUESDAY)
    call = store.call("CA1")
    assert call is not None and call.trigger == "holiday"
    assert [e.text for e in ET.fromstring(reply.xml).iter("Say")] == ["Closed."]


def test_a_holiday_with_its_own_steps_runs_them(engine: Engine) -> None:
    logic, _ = engine(HOLIDAY + '  holiday: [say: "Happy holidays."]\n')
    reply = logic.incoming(params(), "x", TUESDAY)
    assert [e.text for e in ET.fromstring(reply.xml).iter("Say")] == ["Happy holidays."]


def test_a_voicemail_recording_is_kept_on_the_call(engine: Engine) -> None:
    logic, store = engine("on:\n  open: [voicemail: {max_length: 60}]\n")
    reply = logic.incoming(params(), "x", TUESDAY)
    record = ET.fromstring(reply.xml).find("Record")
    assert record is not None and record.get("maxLength") == "60"
    url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    logic.recorded("garage", "on.open.0", params(RecordingUrl=url))
    with store._begin() as connection:
        kept = connection.execute(select(calls.c.recording_url)).scalar_one()
    assert kept == url


def test_a_caller_who_hangs_up_in_a_menu_is_missed_and_texted(engine: Engine) -> None:
    logic, store = engine(MENU + "  missed:\n    - sms: {text: \"Garage: https://g.example/f\"}\n")
    logic.incoming(params(), "x", TUESDAY)
    logic.status(params(CallStatus="completed", SequenceNumber="2"))
    call = store.call("CA1")
    assert call is not None and call.trigger == "missed"
    assert texts(store) == [("on.missed.0", "pending")]


def test_a_menu_option_that_ends_the_call_is_not_a_missed_call(engine: Engine) -> None:
    logic, store = engine(MENU + "  missed:\n    - sms: {text: \"Garage: https://g.example/f\"}\n")
    logic.incoming(params(), "x", TUESDAY)
    logic.menu("garage", "on.open.0", params(Digits="2"), "x")
    logic.status(params(CallStatus="completed", SequenceNumber="2"))
    call = store.call("CA1")
    assert call is not None and call.trigger == "open"
    assert texts(store) == []


def test_screen_true_asks_for_1_in_the_businesss_name(engine: Engine) -> None:
    logic, _ = engine('on:\n  open:\n    - dial: {to: "07911 123457", screen: true}\n')
    logic.incoming(params(), "x", TUESDAY)
    leg = logic.screen("garage", "on.open.0", params("CA2", ParentCallSid="CA1"))
    assert [e.text for e in ET.fromstring(leg.xml).iter("Say")] == [
        "A call for Garage. Press 1 to take it, or hang up."
    ]
