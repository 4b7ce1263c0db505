"""`POST /sms`: replies kept per caller and line, opt-out words, the `sms.reply` copy.

The keyword lists are Twilio's defaults (twilio.md §2.4): STOP, STOPALL, UNSUBSCRIBE,
CANCEL, END, QUIT opt out; START, YES, UNSTOP opt back in; only the whole message counts.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from engine.sms.replies import kind_of
from tests.texting import (
    BAKERY_LINE,
    BAKERY_REPLY,
    SHOP_LINE,
    Engine,
    new_call_sid,
)
from tests.twilio_standin import MessagesApi

CALLER = "+447911123456"




@pytest.mark.parametrize("body, kind", [
    *[pytest.param(word, "opt-out", id=word) for word in
      ("STOP", "stop", "  stop ", "StopAll", "UNSUBSCRIBE", "cancel", "End", "quit\n")],
    *[pytest.param(word, "opt-in", id=word) for word in ("START", "yes", " Unstop ")],
    pytest.param("Stop texting me", "reply", id="a sentence with stop"),
    pytest.param("stop.", "reply", id="stop with a full stop"),
    pytest.param("please stop", "reply", id="please stop"),
    pytest.param("Yes please, Tuesday", "reply", id="a sentence with yes"),
    pytest.param("", "reply", id="empty"),
])
def test_only_a_whole_keyword_counts(body: str, kind: str) -> None:
    assert kind_of(body) == kind


@pytest.mark.parametrize("body, opt_out_type, kind", [
    pytest.param("ARRET", "STOP", "opt-out", id="a custom opt-out keyword"),
    pytest.param("Go on then", "START", "opt-in", id="a custom opt-in keyword"),
    pytest.param("STOP", None, "opt-out", id="no OptOutType: the default words"),
])
def test_twilio_advanced_opt_out_decides_when_present(
    body: str, opt_out_type: str | None, kind: str
) -> None:
    assert kind_of(body, opt_out_type) == kind


def _messages(twiml: str) -> list[str]:
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return [message.text or "" for message in root.iter("Message")]


@pytest.mark.parametrize("word", ["STOP", "  stop "])
def test_stop_opts_out_of_that_line_only(
    engine: Engine, messages_api: MessagesApi, word: str
) -> None:
    assert _messages(engine.reply(CALLER, word, line=SHOP_LINE)) == []

    [shop] = engine.missed_call(new_call_sid(), CALLER, line=SHOP_LINE)
    [bakery] = engine.missed_call(new_call_sid(), CALLER, line=BAKERY_LINE)
    assert (shop.status, shop.reason) == ("skipped", "opted-out")
    assert bakery.status == "sent"
    assert [(r.form["To"], r.form["From"]) for r in messages_api.received] == [
        (CALLER, BAKERY_LINE)]


def test_stop_texting_me_is_an_ordinary_reply(engine: Engine) -> None:
    engine.reply(CALLER, "Stop texting me")
    [text] = engine.missed_call(new_call_sid(), CALLER)
    assert text.status == "sent"


def test_start_opts_back_in(engine: Engine) -> None:
    engine.reply(CALLER, "STOP")
    engine.reply(CALLER, "START")
    [text] = engine.missed_call(new_call_sid(), CALLER)
    assert text.status == "sent"


def test_replies_are_kept_on_the_callers_history_per_line(engine: Engine) -> None:
    engine.reply(CALLER, "Can I come at 5?", line=SHOP_LINE)
    engine.reply(CALLER, "STOP", line=SHOP_LINE)
    engine.reply(CALLER, "Two loaves please", line=BAKERY_LINE)
    shop = engine.store.replies_from(SHOP_LINE, CALLER)
    bakery = engine.store.replies_from(BAKERY_LINE, CALLER)
    assert [(r.body, r.kind) for r in shop] == [("Can I come at 5?", "reply"), ("STOP", "opt-out")]
    assert [r.body for r in bakery] == ["Two loaves please"]


def test_a_reply_retried_by_twilio_is_kept_once(engine: Engine) -> None:
    engine.reply(CALLER, "Hello", sid="SM" + "a" * 32)
    engine.reply(CALLER, "Hello", sid="SM" + "a" * 32)
    assert len(engine.store.replies_from(SHOP_LINE, CALLER)) == 1


def test_no_reply_copy_means_an_empty_response(engine: Engine) -> None:
    assert _messages(engine.reply(CALLER, "Hello?", line=SHOP_LINE)) == []


def test_the_reply_copy_answers_once_per_follow_up(engine: Engine) -> None:
    [text] = engine.missed_call(new_call_sid(), CALLER, line=BAKERY_LINE)
    assert text.status == "sent"
    assert _messages(engine.reply(CALLER, "Is the cake ready?", line=BAKERY_LINE)) == [
        BAKERY_REPLY]
    assert _messages(engine.reply(CALLER, "Hello?", line=BAKERY_LINE)) == []


def test_opt_out_and_help_words_get_no_reply_copy(engine: Engine) -> None:
    for word in ("STOP", "START", "HELP"):
        assert _messages(engine.reply(CALLER, word, line=BAKERY_LINE)) == [], word
