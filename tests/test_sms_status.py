"""`POST /sms/status`: every callback kept, a text's status never moving backwards.

Twilio's order for a text is queued → sending → sent → delivered or undelivered
(twilio.md §2.5); callbacks may arrive late or twice, and each is kept.
"""

from __future__ import annotations

from tests.conftest import ACCOUNT_SID
from tests.texting import (
    Engine,
    new_call_sid,
)
from tests.twilio_standin import MessagesApi

CALLER = "+447911123456"




def _reported(engine: Engine, api: MessagesApi, *statuses: tuple[str, int | None]) -> int:
    """A missed call's text, then Twilio's callbacks for it; the text's id."""
    [text] = engine.missed_call(new_call_sid(), CALLER)
    [request] = api.accepted()
    for status, code in statuses:
        assert api.report(request, status, code) == 204
    return text.id


def test_sent_then_undelivered_keeps_both_and_ends_undelivered(
    engine: Engine, messages_api: MessagesApi
) -> None:
    text_id = _reported(engine, messages_api, ("sent", None), ("undelivered", 30003))
    text = engine.store.message(text_id)
    assert text is not None and (text.status, text.error_code) == ("undelivered", 30003)
    receipts = engine.store.receipts(text_id)
    assert [(r["status"], r["error_code"]) for r in receipts] == [
        ("sent", None), ("undelivered", 30003)]


def test_a_late_sent_does_not_overwrite_delivered(
    engine: Engine, messages_api: MessagesApi
) -> None:
    text_id = _reported(
        engine, messages_api, ("sending", None), ("delivered", None), ("sent", None),
        ("delivered", None),
    )
    text = engine.store.message(text_id)
    assert text is not None and text.status == "delivered"
    assert [r["status"] for r in engine.store.receipts(text_id)] == [
        "sending", "delivered", "sent", "delivered"]


def test_undelivered_with_30003_does_not_mark_a_landline(
    engine: Engine, messages_api: MessagesApi
) -> None:
    _reported(engine, messages_api, ("undelivered", 30003))
    assert not engine.store.known_landline(CALLER)


def test_a_callback_for_a_text_the_engine_never_sent_is_kept(engine: Engine) -> None:
    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered",
              "AccountSid": ACCOUNT_SID, "To": CALLER, "From": "CornerShop"}
    assert engine.post("/sms/status", params).status_code == 204


def test_an_unsigned_callback_is_refused(engine: Engine) -> None:
    import httpx

    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
    assert httpx.post(engine.url + "/sms/status", data=params).status_code == 403
