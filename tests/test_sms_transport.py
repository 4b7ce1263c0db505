"""The real twilio Client over real HTTP, against the Messages API stand-in.

Each answer Twilio can give is sorted into what the outbox must do (twilio.md §4.3-4.5):
`sent` with the message's sid, `retry` (429, 5xx, no connection), `failed` with the code,
`unknown` (the request went out and no answer came back).
"""

from __future__ import annotations

import logging
import socket

import pytest

from engine.sms.transport import TwilioTransport
from tests.conftest import ACCOUNT_SID, TOKEN
from tests.texting import Engine, new_call_sid
from tests.twilio_standin import Answer, MessagesApi

TO, SENDER, BODY = "+447911123456", "CornerShop", "Sorry we missed you"
CALLBACK = "https://calls.example.com/sms/status?message=1"


@pytest.fixture
def transport(messages_api: MessagesApi) -> TwilioTransport:
    return TwilioTransport(ACCOUNT_SID, TOKEN, messages_api.url, timeout=0.5)


def test_a_text_goes_out_as_twilio_expects_it(
    transport: TwilioTransport, messages_api: MessagesApi
) -> None:
    outcome = transport.send(TO, SENDER, BODY, CALLBACK)
    [request] = messages_api.received
    assert request.authorized
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.form == {"To": TO, "From": SENDER, "Body": BODY, "StatusCallback": CALLBACK}
    assert (outcome.status, outcome.provider_sid) == ("sent", request.sid)


@pytest.mark.parametrize("answer, status, code", [
    pytest.param(Answer.error(429, 20429), "retry", 20429, id="429 rate limit"),
    pytest.param(Answer.error(500, 20500), "retry", 20500, id="500"),
    pytest.param(Answer.error(503, 20503), "retry", 20503, id="503"),
    pytest.param(Answer.error(400, 21211), "failed", 21211, id="21211 invalid To"),
    pytest.param(Answer.error(400, 21610), "failed", 21610, id="21610 unsubscribed"),
    pytest.param(Answer.error(400, 21612), "failed", 21612, id="21612 cannot route"),
    pytest.param(Answer.error(400, 21614), "failed", 21614, id="21614 not a mobile"),
    pytest.param(Answer.error(400, 21635), "failed", 21635, id="21635 landline"),
    pytest.param(Answer(drop=True), "unknown", None, id="connection dropped"),
    pytest.param(Answer(hold=True), "unknown", None, id="no answer in time"),
])
def test_answers_are_sorted(
    transport: TwilioTransport, messages_api: MessagesApi, answer: Answer, status: str,
    code: int | None,
) -> None:
    messages_api.script(answer)
    outcome = transport.send(TO, SENDER, BODY, CALLBACK)
    assert (outcome.status, outcome.error_code) == (status, code)
    assert len(messages_api.received) == 1


def test_a_connection_refused_is_retried() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    transport = TwilioTransport(ACCOUNT_SID, TOKEN, f"http://127.0.0.1:{port}", timeout=0.5)
    assert transport.send(TO, SENDER, BODY, CALLBACK).status == "retry"


def test_the_stand_in_refuses_a_wrong_token() -> None:
    api = MessagesApi(ACCOUNT_SID, TOKEN).start()
    try:
        outcome = TwilioTransport(ACCOUNT_SID, "not-the-token", api.url).send(
            TO, SENDER, BODY, CALLBACK
        )
    finally:
        api.stop()
    assert (outcome.status, outcome.error_code) == ("failed", 20003)
    assert api.problems == ["basic auth missing or wrong"]




def test_logs_name_the_call_and_mask_the_number(
    engine: Engine, messages_api: MessagesApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    messages_api.script(Answer.error(429, 20429), Answer.error(400, 21610))
    sid = new_call_sid()
    engine.missed_call(sid, TO)
    engine.reply(TO, "STOP")

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("ringback.sms")]
    assert len(lines) == 3  # a retry, the refusal, the reply
    assert all(TO not in line and TO[1:] not in line for line in lines)
    assert sid in lines[0] and sid in lines[1]
    # Spec: "+4860*****67" for +48601234567; twelve digits show the first four, last two.
    assert "+4479******56" in lines[1] and "+4479******56" in lines[2]
