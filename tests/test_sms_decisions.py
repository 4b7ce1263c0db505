"""Who gets a text, end to end: webhooks in, requests to the Messages API stand-in out.

Expected values come from the language's table and the Twilio reference, not the engine:
a withheld number is `no-caller-id`; a London fixed line (+44 20 …) is `landline`; UK
(+44 7…) and Australian (+61 4…) mobiles and US numbers (which the numbering plan cannot
place) are texted; the US refuses alphanumeric senders, the UK accepts them.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from engine.phone import is_withheld
from tests.texting import (
    BAKERY_LINE,
    KIOSK_LINE,
    SHOP_LINE,
    SHOP_MISSED,
    Engine,
    new_call_sid,
    running_engine,
)
from tests.twilio_standin import Answer, MessagesApi

# The keypad (2 ABC, 3 DEF, 4 GHI, 5 JKL, 6 MNO, 7 PQRS, 8 TUV, 9 WXYZ) spells the words
# carriers put in place of a withheld number; the test spells them itself.
KEYPAD = {letter: str(digit) for digit, letters in
          enumerate(["", "", "ABC", "DEF", "GHI", "JKL", "MNO", "PQRS", "TUV", "WXYZ"])
          for letter in letters}


def keypad(word: str) -> str:
    return "+" + "".join(KEYPAD[letter] for letter in word.upper())


def test_keypad_spelling_matches_the_reference() -> None:
    # twilio.md §2.7 lists these four spellings, checked by hand there.
    assert [keypad(w) for w in ("anonymous", "restricted", "unavailable", "blocked")] == [
        "+266696687", "+7378742833", "+86282452253", "+2562533"]


WITHHELD = ["Anonymous", "anonymous", "ANONYMOUS", "Restricted", "Unknown", "Unavailable",
            "private", "Blocked", "", "  ", "+266696687", "266696687",
            *(keypad(word) for word in ("restricted", "unavailable", "blocked", "private",
                                        "unknown", "withheld"))]


def test_withheld_numbers_hear_the_usual_call_and_get_no_text(
    engine: Engine, messages_api: MessagesApi
) -> None:
    usual_sid = new_call_sid()
    usual = engine.call(usual_sid, "+447911123456")
    usual_after = engine.dial_ended(usual, usual_sid, "+447911123456")
    engine.wait_idle()
    assert len(messages_api.received) == 1

    for caller in WITHHELD:
        sid = new_call_sid()
        first = engine.call(sid, caller)
        after = engine.dial_ended(first, sid, caller)
        engine.wait_idle()
        assert (first.text, after.text) == (usual.text, usual_after.text), caller
        [text] = engine.store.messages_for_call(sid)
        assert (text.status, text.reason) == ("skipped", "no-caller-id"), caller

    assert len(messages_api.received) == 1  # only the usual caller's


def test_every_stand_in_is_read_as_withheld() -> None:
    assert all(is_withheld(value) for value in WITHHELD)


@pytest.mark.parametrize("caller, texted", [
    pytest.param("+14155550199", True, id="US number, mobile or fixed: texted"),
    pytest.param("+442079460000", False, id="London fixed line: landline"),
    pytest.param("+447911123456", True, id="UK mobile"),
    pytest.param("+61491570156", True, id="Australian mobile"),
])
def test_line_type_decides(
    engine: Engine, messages_api: MessagesApi, caller: str, texted: bool
) -> None:
    [text] = engine.missed_call(new_call_sid(), caller)
    if texted:
        assert (text.status, text.reason) == ("sent", None)
        [request] = messages_api.received
        assert (request.form["To"], request.form["Body"]) == (caller, SHOP_MISSED)
    else:
        assert (text.status, text.reason) == ("skipped", "landline")
        assert messages_api.received == []


def test_send_to_any_texts_a_fixed_line_and_cooldown_0_texts_every_call(
    engine: Engine, messages_api: MessagesApi
) -> None:
    for _ in range(2):
        [text] = engine.missed_call(new_call_sid(), "+442079460000", line=KIOSK_LINE)
        assert text.status == "sent"
    assert [r.form["To"] for r in messages_api.received] == ["+442079460000"] * 2


def test_an_invalid_number_is_skipped(engine: Engine, messages_api: MessagesApi) -> None:
    [text] = engine.missed_call(new_call_sid(), "+4479111")
    assert (text.status, text.reason) == ("skipped", "invalid-number")
    assert messages_api.received == []


@pytest.mark.parametrize("code", [21614, 21635])
def test_a_number_twilio_refused_as_a_landline_is_not_asked_again(
    engine: Engine, messages_api: MessagesApi, code: int
) -> None:
    messages_api.script(Answer.error(400, code))
    [first] = engine.missed_call(new_call_sid(), "+12025550188")
    assert (first.status, first.error_code, first.attempts) == ("failed", code, 1)

    [second] = engine.missed_call(new_call_sid(), "+12025550188")
    assert (second.status, second.reason) == ("skipped", "landline")
    assert len(messages_api.received) == 1


def test_an_undelivered_30006_marks_a_landline_too(
    engine: Engine, messages_api: MessagesApi
) -> None:
    [first] = engine.missed_call(new_call_sid(), "+14155550123")
    assert first.status == "sent"
    [request] = messages_api.accepted()
    assert messages_api.report(request, "undelivered", 30006) == 204

    [second] = engine.missed_call(new_call_sid(), "+14155550123")
    assert (second.status, second.reason) == ("skipped", "landline")
    assert len(messages_api.received) == 1


@pytest.mark.parametrize("caller, sender", [
    pytest.param("+14155550199", SHOP_LINE, id="US: the line's own number"),
    pytest.param("+447911123456", "CornerShop", id="UK mobile: the alphanumeric ID"),
])
def test_the_alphanumeric_sender_only_where_accepted(
    engine: Engine, messages_api: MessagesApi, caller: str, sender: str
) -> None:
    [text] = engine.missed_call(new_call_sid(), caller)
    [request] = messages_api.received
    assert request.form["From"] == text.from_number == sender


def test_one_text_per_caller_and_line_within_the_cooldown(
    engine: Engine, messages_api: MessagesApi
) -> None:
    [first] = engine.missed_call(new_call_sid(), "+447911123456")
    [again] = engine.missed_call(new_call_sid(), "+447911123456")
    [other] = engine.missed_call(new_call_sid(), "+447400123456")
    [bakery] = engine.missed_call(new_call_sid(), "+447911123456", line=BAKERY_LINE)
    assert [first.status, again.status, again.reason, other.status, bakery.status] == [
        "sent", "skipped", "cooldown", "sent", "sent"]
    assert [r.form["To"] for r in messages_api.received] == [
        "+447911123456", "+447400123456", "+447911123456"]


def test_two_identical_dial_callbacks_at_once_send_one_text(
    engine: Engine, messages_api: MessagesApi
) -> None:
    sid, caller = new_call_sid(), "+447911123456"
    first = engine.call(sid, caller)
    barrier = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def post() -> None:
        barrier.wait()
        answers.append(engine.dial_ended(first, sid, caller))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.wait_idle()

    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].text == answers[1].text and "<Say>" in answers[0].text
    assert len(messages_api.received) == 1
    [text] = engine.store.messages_for_call(sid)
    assert text.status == "sent"
    kinds = [event["kind"] for event in engine.store.events(sid)]
    assert kinds.count("sms-duplicate") == 1


def test_two_engines_sharing_a_store_send_one_text_for_one_callback(
    tmp_path: Path, engine: Engine, messages_api: MessagesApi
) -> None:
    db = engine.store.url  # the fixture's store
    with running_engine(tmp_path / "flows", db, messages_api) as other:
        sid, caller = new_call_sid(), "+447911123456"
        first = engine.call(sid, caller)
        barrier = threading.Barrier(2)
        answers: list[str] = []

        def post(to: Engine) -> None:
            barrier.wait()
            answers.append(to.dial_ended(first, sid, caller).text)

        threads = [threading.Thread(target=post, args=(e,)) for e in (engine, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        engine.wait_idle()
        other.wait_idle()

    assert answers[0] == answers[1]
    assert len(messages_api.received) == 1
