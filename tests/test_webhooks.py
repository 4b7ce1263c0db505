"""The main job end to end, over real HTTP: a signed call comes in, the business is busy or
does not answer, and the caller gets exactly one text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from engine.cli import main
from engine.server import SIMULATED_AT

REPO = Path(__file__).resolve().parent.parent
SALON = YAML(typ="safe").load((REPO / "flows" / "salon-belle.yaml").read_text())
CALLER = "+48601111222"  # a Polish mobile number
LINE = "+48223071500"  # "+48 22 307 15 00", the salon's line, in E.164
TUESDAY_MORNING = "2026-05-05T10:00:00+02:00"  # inside mon-fri 09:00-18:00, Warsaw summer time


def incoming(sid: str, **more: str) -> dict[str, str]:
    """The parameters Twilio sends for an incoming call (reference §2.1)."""
    params = {
        "CallSid": sid, "AccountSid": "AC" + "1" * 32, "From": CALLER, "To": LINE,
        "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01",
        SIMULATED_AT: TUESDAY_MORNING,
    }
    return {**params, **more}


def parse(response: Any) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.startswith("<?xml")
    return ET.fromstring(response.text)


def test_a_signed_call_gets_the_greeting_and_a_dial_with_an_action(serve: Any) -> None:
    engine = serve()
    root = parse(engine.post("/voice", incoming("CA" + "a" * 32)))

    assert [child.tag for child in root] == ["Play", "Dial"]
    assert root[0].text == f"{engine.url}/greetings/belle-welcome.wav"
    dial = root[1]
    assert dial.get("timeout") == "20"
    assert dial.get("action", "").startswith("/voice/")
    assert [n.text for n in dial.findall("Number")] == ["+48601234567"]


@pytest.mark.parametrize(
    "signature",
    [pytest.param("bm90IGEgc2lnbmF0dXJl", id="wrong signature"), pytest.param("", id="none")],
)
def test_a_call_without_a_valid_signature_is_refused(serve: Any, signature: str) -> None:
    engine = serve()
    response = engine.post("/voice", incoming("CA" + "b" * 32), signature=signature or None)
    if not signature:
        import httpx

        response = httpx.post(engine.url + "/voice", data=incoming("CA" + "b" * 32))
    assert response.status_code == 403
    assert "<Response" not in response.text


def test_a_signature_for_other_parameters_is_refused(serve: Any) -> None:
    engine = serve()
    from twilio.request_validator import RequestValidator

    signed_for = incoming("CA" + "c" * 32)
    signature = RequestValidator(engine.token).compute_signature(engine.url + "/voice", signed_for)
    sent = {**signed_for, "From": "+48601999888"}
    assert engine.post("/voice", sent, signature=signature).status_code == 403


def _dial_action(engine: Any, sid: str) -> str:
    root = parse(engine.post("/voice", incoming(sid)))
    return str(root.find("Dial").get("action"))  # type: ignore[union-attr]


def test_a_busy_business_line_plays_the_busy_steps_and_texts_once(serve: Any) -> None:
    engine = serve()
    sid = "CA" + "d" * 32
    action = _dial_action(engine, sid)
    params = incoming(sid, CallStatus="in-progress", DialCallStatus="busy",
                      DialCallSid="CA" + "e" * 32)

    root = parse(engine.post(action, params))
    busy_say = SALON["on"]["busy"][0]["say"]
    assert [(c.tag, c.text) for c in root] == [("Say", busy_say), ("Hangup", None)]

    again = parse(engine.post(action, params))
    assert ET.tostring(again) == ET.tostring(root)
    engine.wait_for(lambda: [m.status for m in engine.store.messages_for_call(sid)] == ["sent"])
    [text] = engine.store.messages_for_call(sid)
    assert (text.to_number, text.from_number) == (CALLER, "SalonBelle")
    assert text.body == SALON["sms"]["copy"]["busy"]
    assert (text.encoding, text.segments) == ("GSM-7", 1)


def test_a_dial_nobody_answers_gives_the_missed_text(serve: Any) -> None:
    engine = serve()
    sid = "CA" + "f" * 32
    action = _dial_action(engine, sid)
    engine.post(action, incoming(sid, CallStatus="in-progress", DialCallStatus="no-answer"))
    engine.post("/voice/status", incoming(sid, CallStatus="completed", SequenceNumber="3"))

    engine.wait_for(lambda: [m.status for m in engine.store.messages_for_call(sid)] == ["sent"])
    [text] = engine.store.messages_for_call(sid)
    assert text.body == SALON["sms"]["copy"]["missed"]
    assert engine.store.call(sid).trigger == "missed"  # type: ignore[union-attr]


def test_a_caller_who_hangs_up_in_the_greeting_still_gets_the_missed_text(serve: Any) -> None:
    engine = serve()
    sid = "CA" + "1" * 32
    parse(engine.post("/voice", incoming(sid)))
    response = engine.post(
        "/voice/status", incoming(sid, CallStatus="completed", CallDuration="3", SequenceNumber="1")
    )
    assert response.status_code == 200

    engine.wait_for(lambda: [m.status for m in engine.store.messages_for_call(sid)] == ["sent"])
    [text] = engine.store.messages_for_call(sid)
    assert text.body == SALON["sms"]["copy"]["missed"]
    call = engine.store.call(sid)
    assert call is not None and (call.trigger, call.state) == ("missed", "ended")


def test_a_late_status_callback_does_not_reopen_an_ended_call(serve: Any) -> None:
    engine = serve()
    sid = "CA" + "2" * 32
    parse(engine.post("/voice", incoming(sid)))
    engine.post("/voice/status", incoming(sid, CallStatus="completed", SequenceNumber="4"))
    engine.post("/voice/status", incoming(sid, CallStatus="in-progress", SequenceNumber="2"))
    engine.post("/voice/status", incoming(sid, CallStatus="completed", SequenceNumber="4"))

    call = engine.store.call(sid)
    assert call is not None and (call.state, call.status) == ("ended", "completed")
    statuses = [e["status"] for e in engine.store.events(sid) if e["kind"] == "status"]
    assert statuses == ["completed", "in-progress", "completed"]
    engine.wait_for(lambda: len(engine.store.messages_for_call(sid)) == 1)


def test_an_answered_call_sends_no_text(serve: Any) -> None:
    engine = serve()
    sid = "CA" + "3" * 32
    action = _dial_action(engine, sid)
    root = parse(engine.post(action, incoming(sid, DialCallStatus="COMPLETED",
                                               DialCallDuration="40")))
    assert [c.tag for c in root] == []
    engine.post("/voice/status", incoming(sid, CallStatus="completed", SequenceNumber="2"))
    assert engine.store.messages_for_call(sid) == []


def test_an_unknown_number_gets_an_apology_and_a_hangup(serve: Any) -> None:
    engine = serve()
    root = parse(engine.post("/voice", incoming("CA" + "4" * 32, To="+48223071599")))
    assert [c.tag for c in root] == ["Say", "Hangup"]


def test_health_counts_the_flows(serve: Any) -> None:
    engine = serve()
    import httpx

    response = httpx.get(engine.url + "/healthz")
    assert response.status_code == 200
    flows = [p for p in (REPO / "flows").glob("*.yaml") if not p.name.endswith(".test.yaml")]
    assert response.json() == {"status": "ok", "flows": len(flows)}


def test_greetings_are_served_from_their_folder_only(serve: Any) -> None:
    engine = serve()
    import httpx

    audio = httpx.get(engine.url + "/greetings/belle-welcome.wav")
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav"
    assert audio.content == (REPO / "greetings" / "belle-welcome.wav").read_bytes()
    assert httpx.get(engine.url + "/greetings/..%2Fpyproject.toml").status_code == 404
    assert httpx.get(engine.url + "/greetings/missing.wav").status_code == 404


def test_simulate_busy_prints_the_spec_json_with_one_sent_text(capsys: Any) -> None:
    code = main(["--flows", str(REPO / "flows"), "simulate", "salon-belle", "--outcome", "busy",
                 "--from", "+48 601 111 222", "--at", "2026-05-05T10:00", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trigger"] == "busy"
    assert result["call_sid"].startswith("CA") and len(result["call_sid"]) == 34
    assert {"flow", "heard", "dialed", "requests", "sms", "ended_by"} <= set(result)
    assert [t["status"] for t in result["sms"]] == ["sent"]
    assert result["sms"][0]["body"] == SALON["sms"]["copy"]["busy"]


def test_simulate_answer_sends_no_text(capsys: Any) -> None:
    code = main(["--flows", str(REPO / "flows"), "simulate", "salon-belle", "--outcome", "answer",
                 "--from", "+48 601 111 222", "--at", "2026-05-05T10:00", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sms"] == []
    assert result["dialed"][0]["to"] == "+48601234567"


def test_serving_unsigned_on_a_public_address_is_refused(
    monkeypatch: Any, capsys: Any
) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    error = capsys.readouterr().err
    assert "TWILIO_AUTH_TOKEN" in error and len(error.strip().splitlines()) == 1


def test_a_caller_written_otherwise_is_kept_in_e164(serve: Any) -> None:
    engine = serve()
    sid = "CA" + "7" * 32
    parse(engine.post("/voice", incoming(sid, From="+48 601 111 222")))
    call = engine.store.call(sid)
    assert call is not None and call.caller == CALLER
