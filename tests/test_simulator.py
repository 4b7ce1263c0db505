"""The simulator plays Twilio: verbs as Twilio carries them out, the business phone as the
outcome says, the caller hanging up at any moment, and what a real call posts.

Verb-level behaviour is checked against a scripted stand-in engine (fixed TwiML per path);
call-level behaviour against the real engine, in process, on the flows these tests write.
Expected times are worked out from the spec: 0.4 s a spoken word, audio by its length.
"""

from __future__ import annotations

import asyncio
import json
import math
import wave
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
import pytest

from engine._audio import AudioError, audio_seconds
from engine._call import Wire
from engine.cli import main
from engine.dsl.compiler import compile_file
from engine.dsl.flow import Flow
from engine.flows.registry import FlowSet
from engine.server import create_app
from engine.settings import Settings
from engine.simulator import (
    Call,
    Script,
    SimulationError,
    _Messages,
    _text_callbacks,
    simulate,
    simulate_remote,
    story,
)
from engine.store import Store

REPO = Path(__file__).resolve().parent.parent
SETTINGS = Settings(flows=REPO / "flows", greetings=REPO / "greetings", watch=False)
SALON = compile_file(REPO / "flows" / "salon-belle.yaml")
WARSAW = ZoneInfo("Europe/Warsaw")
TUESDAY_10 = datetime(2026, 5, 5, 10, 0, tzinfo=WARSAW)  # inside mon-fri 09:00-18:00
CALLER = "+48601111222"  # a Polish mobile number
TEN_WORDS = "one two three four five six seven eight nine ten"

with wave.open(str(REPO / "greetings" / "belle-welcome.wav")) as _sound:
    WELCOME = _sound.getnframes() / _sound.getframerate()  # the salon's greeting, in seconds

STUDIO = """\
line: "+48 22 307 15 02"
business: Studio
region: PL
sms:
  sender: Studio
  copy:
    missed: "Studio: sorry we missed you. Book: https://studio.example/book"
    busy: "Studio: we are on another call. Book: https://studio.example/book"
on:
  open:
    - say: "Thanks for calling the studio."
    - dial: {to: "601 234 567", timeout: 25, screen: SCREEN}
  busy:
    - say: "We are on another call."
    - sms: busy
  missed:
    - say: "Sorry we missed you. Leave a message after the beep."
    - sms: missed
    - voicemail: {max_length: 60}
"""

MENU = """\
line: "+48 22 307 15 03"
business: Shop
region: PL
sms:
  sender: Shop
  copy:
    missed: "Shop: sorry we missed you. Book: https://shop.example/book"
on:
  open:
    - menu:
        prompt: "For bookings press 1. For the shop press 2."
        options:
          "1":
            - dial:
                to: "601 234 567"
                timeout: 25
                screen: {prompt: "Call for the shop. Press {digit} to take it.", digit: "5"}
          "2":
            - say: "The shop opens at nine."
        timeout: 5
        default:
          - say: "We did not get that."
  missed:
    - say: "Sorry we missed you. Leave a message after the beep."
    - sms: missed
    - voicemail: {max_length: 60}
"""


def write_flow(folder: Path, name: str, text: str) -> Flow:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return compile_file(path)


def studio(folder: Path, screen: bool) -> Flow:
    return write_flow(folder, "studio", STUDIO.replace("SCREEN", str(screen).lower()))


def play(flow: Flow, **options: Any) -> Call:
    """One call through `flow` in process, from a Polish mobile on a Tuesday morning."""
    script = Script(caller=CALLER, line=flow.lines[0], at=TUESDAY_10, **options)
    return asyncio.run(simulate(SETTINGS, flow, script))


def posted(call: Call, path: str) -> list[dict[str, str]]:
    """The parameters of every request the simulator posted to `path` (query ignored)."""
    return [r["params"] for r in call.requests if r["path"].split("?")[0] == path]


# --- a scripted stand-in engine: fixed TwiML per path -----------------------------------


class Scripted:
    """An engine that answers each path with the TwiML given, and keeps what it was sent."""

    def __init__(self, documents: dict[str, str]) -> None:
        self.documents = documents
        self.seen: list[tuple[str, dict[str, str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode()
        params = dict(parse_qsl(request.content.decode()))
        self.seen.append((path, params))
        if path == "/voice/report":
            return httpx.Response(404)
        body = self.documents.get(path, "<Response/>" if path == "/voice/status" else None)
        if body is None:
            return httpx.Response(404, text="no such path")
        return httpx.Response(200, text=f'<?xml version="1.0" encoding="UTF-8"?>{body}',
                              headers={"content-type": "text/xml"})

    def params(self, path: str) -> list[dict[str, str]]:
        return [params for seen, params in self.seen if seen == path]


def run_scripted(
    documents: dict[str, str], **options: Any
) -> tuple[Call, Scripted]:
    engine = Scripted(documents)
    script = Script(caller=CALLER, line="+48223071500", at=TUESDAY_10, **options)

    async def go() -> Call:
        async with httpx.AsyncClient(transport=httpx.MockTransport(engine)) as client:
            return await simulate_remote("http://engine.test", None, script, None, client=client)

    return asyncio.run(go()), engine


def test_a_ten_word_say_takes_four_seconds() -> None:
    call, engine = run_scripted({"/voice": f"<Response><Say>{TEN_WORDS}</Say></Response>"})

    assert call.duration == pytest.approx(4.0)
    assert call.heard == [{"say": TEN_WORDS}]
    assert engine.params("/voice/status")[-1]["CallDuration"] == "4"


def test_say_loops_and_pauses_add_up() -> None:
    document = f'<Response><Say loop="2">{TEN_WORDS}</Say><Pause length="3"/></Response>'
    call, _ = run_scripted({"/voice": document})

    assert call.duration == pytest.approx(2 * 4.0 + 3)
    assert call.heard == [{"say": TEN_WORDS}, {"say": TEN_WORDS}]  # heard once per loop


def test_a_say_looped_until_hang_up_is_heard_once() -> None:
    document = f'<Response><Say loop="0">{TEN_WORDS}</Say></Response>'
    call, _ = run_scripted({"/voice": document})

    assert call.heard == [{"say": TEN_WORDS}]


def test_a_verb_it_does_not_understand_is_an_error_that_names_it() -> None:
    with pytest.raises(SimulationError, match="<Enqueue>"):
        run_scripted({"/voice": "<Response><Say>Hi</Say><Enqueue>support</Enqueue></Response>"})


@pytest.mark.parametrize(
    ("xml", "error"),
    [
        pytest.param("<Response><Say>Hi</Say>", "12100", id="malformed"),
        pytest.param("<Document><Say>Hi</Say></Document>", "12102", id="not a Response"),
    ],
)
def test_twiml_twilio_would_refuse_is_an_error(xml: str, error: str) -> None:
    with pytest.raises(SimulationError, match=error):
        run_scripted({"/voice": xml})


FIVE_WORD_PROMPT = "<Say>press one for the shop</Say>"  # 2.0 s


@pytest.mark.parametrize(
    ("attributes", "digits", "posted_digits", "seconds"),
    [
        pytest.param('numDigits="1"', ("2",), "2", 2.0, id="numDigits reached: at once"),
        pytest.param("", ("2",), "2", 2.0 + 5, id="no numDigits: waits the timeout"),
        pytest.param("", ("12#",), "12", 2.0, id="finishOnKey ends the entry"),
        pytest.param('timeout="3"', ("4",), "4", 2.0 + 3, id="its own timeout"),
    ],
)
def test_gather_posts_the_keys_when_twilio_would(
    attributes: str, digits: tuple[str, ...], posted_digits: str, seconds: float
) -> None:
    documents = {
        "/voice": f'<Response><Gather action="/menu" {attributes}>{FIVE_WORD_PROMPT}</Gather>'
                  "</Response>",
        "/menu": "<Response><Hangup/></Response>",
    }
    call, engine = run_scripted(documents, digits=digits)

    assert [p["Digits"] for p in engine.params("/menu")] == [posted_digits]
    assert call.duration == pytest.approx(seconds)


def test_gather_without_a_key_falls_through_to_the_next_verb() -> None:
    documents = {
        "/voice": f'<Response><Gather action="/menu">{FIVE_WORD_PROMPT}</Gather>'
                  "<Say>fell through</Say></Response>",
    }
    call, engine = run_scripted(documents)

    assert engine.params("/menu") == []
    assert call.heard[-1] == {"say": "fell through"}
    assert call.duration == pytest.approx(2.0 + 5 + 0.8)


def test_gather_with_action_on_empty_result_posts_without_digits() -> None:
    documents = {
        "/voice": f'<Response><Gather action="/menu" actionOnEmptyResult="true">'
                  f"{FIVE_WORD_PROMPT}</Gather><Say>never heard</Say></Response>",
        "/menu": "<Response><Hangup/></Response>",
    }
    call, engine = run_scripted(documents)

    assert len(engine.params("/menu")) == 1
    assert "Digits" not in engine.params("/menu")[0]
    assert {"say": "never heard"} not in call.heard


def test_reject_first_leaves_the_call_unanswered() -> None:
    call, engine = run_scripted({"/voice": '<Response><Reject reason="busy"/></Response>'})

    statuses = [p["CallStatus"] for p in engine.params("/voice/status")]
    assert statuses == ["ringing", "busy"]
    assert engine.params("/voice/status")[-1]["CallDuration"] == "0"
    assert call.heard == []


def test_status_callbacks_carry_sequence_timestamp_and_duration() -> None:
    document = f"<Response><Say>{TEN_WORDS} eleven</Say></Response>"  # 11 words: 4.4 s
    _, engine = run_scripted({"/voice": document})

    callbacks = engine.params("/voice/status")
    assert [p["CallStatus"] for p in callbacks] == ["ringing", "in-progress", "completed"]
    assert [p["SequenceNumber"] for p in callbacks] == ["0", "1", "2"]
    assert callbacks[-1]["CallDuration"] == "5"  # 4.4 s, in whole seconds rounded up
    assert parsedate_to_datetime(callbacks[0]["Timestamp"]) == TUESDAY_10
    end = parsedate_to_datetime(callbacks[-1]["Timestamp"])
    assert end == TUESDAY_10 + timedelta(seconds=4)  # RFC 2822 keeps whole seconds
    assert callbacks[-1]["Timestamp"].endswith("+0000")


def test_several_numbers_ring_at_once_and_the_first_to_answer_is_bridged() -> None:
    documents = {
        "/voice": '<Response><Dial action="/dialed" timeout="20"><Number>+48601234567</Number>'
                  "<Number>+48601234568</Number></Dial></Response>",
        "/dialed": "<Response><Hangup/></Response>",
    }
    call, engine = run_scripted(documents, outcome="answer")

    assert [d["status"] for d in call.dialed] == ["completed", "canceled"]
    report = engine.params("/dialed")[0]
    assert (report["DialCallStatus"], report["DialBridged"]) == ("completed", "true")
    assert report["DialCallDuration"] == "60"
    assert call.duration == pytest.approx(5 + 60)  # picked up after 5 s, then a minute


def screening_documents() -> dict[str, str]:
    return {
        "/voice": '<Response><Dial action="/dialed" timeout="30">'
                  '<Number url="/screen">+48601234567</Number></Dial></Response>',
        "/screen": '<Response><Gather action="/screened" numDigits="1" timeout="8">'
                   "<Say>A caller is waiting. Press 7 to take it.</Say></Gather>"
                   "<Hangup/></Response>",
        "/screened": "<Response/>",
        "/dialed": "<Response><Hangup/></Response>",
    }


def test_the_screening_prompt_runs_on_the_business_leg_and_a_person_presses_the_digit() -> None:
    call, engine = run_scripted(screening_documents(), outcome="answer")

    leg = engine.params("/screen")[0]
    assert leg["ParentCallSid"] == call.call_sid
    assert leg["Direction"] == "outbound-dial"
    assert leg["To"] == "+48601234567"
    assert [p["Digits"] for p in engine.params("/screened")] == ["7"]
    assert engine.params("/dialed")[0]["DialBridged"] == "true"
    assert call.heard == []  # the caller never hears the business's prompt


def test_a_voicemail_presses_nothing_at_the_screening_prompt() -> None:
    call, engine = run_scripted(screening_documents(), outcome="voicemail")

    assert engine.params("/screened") == []
    report = engine.params("/dialed")[0]
    assert (report["DialCallStatus"], report["DialBridged"]) == ("completed", "false")
    # the voicemail picks up after 15 s, hears 9 words (3.6 s), waits 8 s for a key
    assert call.duration == pytest.approx(15 + 3.6 + 8)


def test_a_voicemail_slower_than_the_dial_timeout_never_answers() -> None:
    documents = {
        "/voice": '<Response><Dial action="/dialed" timeout="10">+48601234567</Dial></Response>',
        "/dialed": "<Response><Hangup/></Response>",
    }
    call, engine = run_scripted(documents, outcome="voicemail")

    assert engine.params("/dialed")[0]["DialCallStatus"] == "no-answer"
    assert call.duration == pytest.approx(10)


def test_a_noun_it_cannot_dial_is_an_error_that_names_it() -> None:
    documents = {"/voice": '<Response><Dial action="/dialed"><Client>alice</Client></Dial>'
                           "</Response>"}
    with pytest.raises(SimulationError, match="<Client>"):
        run_scripted(documents)


def test_record_posts_its_action_with_the_recording() -> None:
    documents = {
        "/voice": '<Response><Record action="/recorded" maxLength="60"/></Response>',
        "/recorded": "<Response><Hangup/></Response>",
    }
    call, engine = run_scripted(documents)

    report = engine.params("/recorded")[0]
    assert report["RecordingDuration"] == "10"
    assert report["RecordingUrl"].startswith("https://")
    assert call.duration == pytest.approx(10 + 5)  # a 10 s message, then 5 s of silence
    assert call.heard == []  # being recorded is not something the caller hears


def test_redirect_fetches_the_next_document() -> None:
    documents = {
        "/voice": "<Response><Redirect>/next</Redirect><Say>never</Say></Response>",
        "/next": "<Response><Say>after the redirect</Say></Response>",
    }
    call, _ = run_scripted(documents)

    assert call.heard == [{"say": "after the redirect"}]


def test_an_engine_without_a_report_is_said_so() -> None:
    call, _ = run_scripted({"/voice": "<Response><Hangup/></Response>"})

    assert call.trigger == ""
    assert any("/voice/report" in note for note in call.notes)


# --- audio lengths ----------------------------------------------------------------------


def test_a_wav_greeting_is_timed_by_its_length(tmp_path: Path) -> None:
    path = tmp_path / "two.wav"
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\0\0" * (8000 * 5 // 2))  # 2.5 s

    assert audio_seconds(path.read_bytes()) == pytest.approx(2.5)


def test_an_mp3_is_timed_frame_by_frame() -> None:
    # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: 417-byte frames of 1152 samples each.
    frame = bytes([0xFF, 0xFB, 0x90, 0x00]) + bytes(413)
    tag = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + bytes(10)  # an ID3v2 tag of 10 bytes

    assert audio_seconds(tag + frame * 100) == pytest.approx(100 * 1152 / 44100)


def test_audio_it_cannot_read_is_an_error() -> None:
    with pytest.raises(AudioError):
        audio_seconds(b"plain text, not audio")


# --- what the simulator must show: the traps a flow author must see ---------------------


def test_screened_voicemail_is_missed_with_one_text(tmp_path: Path) -> None:
    call = play(studio(tmp_path, screen=True), outcome="voicemail")

    assert call.trigger == "missed"
    assert [text["status"] for text in call.sms] == ["sent"]
    assert "sorry we missed you" in call.sms[0]["body"]


def test_unscreened_voicemail_counts_as_answered_and_sends_nothing(tmp_path: Path) -> None:
    call = play(studio(tmp_path, screen=False), outcome="voicemail")

    assert call.trigger == "open"
    assert call.sms == []
    assert call.dialed == [{"to": "+48601234567", "status": "completed", "screened": False}]


@pytest.mark.parametrize("screen", [True, False], ids=["screened", "unscreened"])
@pytest.mark.parametrize(
    "hangup_after",
    [pytest.param(None, id="business hangs up after a minute"),
     pytest.param(20.0, id="caller hangs up after a short talk"),
     pytest.param(3000.0, id="caller hangs up after a long talk")],
)
def test_an_answered_call_hears_nothing_after_the_dial(
    tmp_path: Path, screen: bool, hangup_after: float | None
) -> None:
    call = play(studio(tmp_path, screen=screen), outcome="answer", hangup_after=hangup_after)

    assert call.heard == [{"say": "Thanks for calling the studio."}]
    assert call.trigger == "open"
    assert call.sms == []


@pytest.mark.parametrize(
    ("outcome", "trigger", "body"),
    [("busy", "busy", "we are on another call"), ("failed", "failed", "sorry we missed you")],
)
def test_busy_and_failed_reach_their_triggers_with_one_text(
    tmp_path: Path, outcome: str, trigger: str, body: str
) -> None:
    call = play(studio(tmp_path, screen=True), outcome=outcome)

    assert call.trigger == trigger
    assert len(call.sms) == 1 and call.sms[0]["status"] == "sent"
    assert body in call.sms[0]["body"]


def test_hanging_up_during_a_longer_greeting_is_missed_with_one_text() -> None:
    assert WELCOME > 3
    call = play(SALON, hangup_after=3)

    assert call.ended_by == "caller"
    assert call.trigger == "missed"
    assert [text["status"] for text in call.sms] == ["sent"]
    assert call.duration == pytest.approx(3.0)
    assert posted(call, "/voice/status")[-1]["CallDuration"] == "3"


def test_the_greeting_is_timed_by_the_audio_file() -> None:
    call = play(SALON, outcome="busy")

    busy_say = (
        "We are on another call right now. We have just sent you a text with our booking link."
    )
    assert call.duration == pytest.approx(WELCOME + len(busy_say.split()) * 0.4)


# The menu flow, with --digits 1: prompt 9 words (3.6 s), a ring of 5 s before a person
# answers (8.6 s), the screening prompt of 9 words (to 12.2 s); with no answer the dial
# rings 25 s (to 28.6 s), the missed say takes 4.0 s, then the voicemail records.
@pytest.mark.parametrize(
    ("outcome", "hangup_after"),
    [pytest.param("no-answer", 2, id="in the menu prompt"),
     pytest.param("no-answer", 6, id="waiting at the menu"),
     pytest.param("no-answer", 15, id="while it rings"),
     pytest.param("answer", 10, id="at the screening prompt"),
     pytest.param("no-answer", 36, id="in the voicemail")],
)
def test_a_caller_who_hangs_up_at_any_moment_is_missed_and_texted_once(
    tmp_path: Path, outcome: str, hangup_after: float
) -> None:
    call = play(write_flow(tmp_path, "shop", MENU), outcome=outcome,
                hangup_after=hangup_after, digits=("1",))

    assert call.ended_by == "caller"
    assert call.trigger == "missed"
    assert [text["status"] for text in call.sms] == ["sent"]
    assert posted(call, "/voice/status")[-1]["CallDuration"] == str(math.ceil(hangup_after))


def test_a_hang_up_in_the_voicemail_still_posts_the_recording(tmp_path: Path) -> None:
    call = play(write_flow(tmp_path, "shop", MENU), hangup_after=36, digits=("1",))

    recorded = posted(call, "/voice/recorded")
    assert len(recorded) == 1
    assert (recorded[0]["Digits"], recorded[0]["CallStatus"]) == ("hangup", "completed")
    assert recorded[0]["RecordingDuration"] == "4"  # recording began at 28.6 + 4.0 = 32.6 s


def test_the_business_presses_the_flow_s_own_screening_digit(tmp_path: Path) -> None:
    call = play(write_flow(tmp_path, "shop", MENU), outcome="answer", digits=("1",))

    assert [p["Digits"] for p in posted(call, "/voice/screened")] == ["5"]
    assert call.trigger == "open" and call.sms == []


def test_status_callbacks_out_of_order_leave_the_call_ended(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'engine.db'}")
    token = "t" * 32
    settings = Settings(greetings=REPO / "greetings", auth_token=token,
                        public_url="http://ringback.test", watch=False)
    app = create_app(settings, store=store, flows=FlowSet.serving([SALON]))
    sid = "CA" + "7" * 32
    base = {"CallSid": sid, "AccountSid": "AC" + "1" * 32, "From": CALLER,
            "To": SALON.lines[0], "Direction": "inbound", "ApiVersion": "2010-04-01"}

    async def go() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport) as client:
                wire = Wire(client, "http://ringback.test", token)
                await wire.send("http://ringback.test/voice", {**base, "CallStatus": "ringing"})
                for status, sequence in (("completed", "3"), ("ringing", "1")):
                    params = {**base, "CallStatus": status, "SequenceNumber": sequence,
                              "Timestamp": "Tue, 05 May 2026 08:00:30 +0000"}
                    response = await wire.send("http://ringback.test/voice/status", params)
                    assert response.status_code < 300

    asyncio.run(go())
    call = store.call(sid)
    assert call is not None and call.ended and call.status == "completed"
    late = [e for e in store.events(sid) if e["status"] == "ringing" and e["sequence"] == 1]
    assert len(late) == 1
    store.close()


# --- what a run shows -------------------------------------------------------------------


def test_the_json_has_the_spec_s_keys_and_a_fresh_call_sid_each_run() -> None:
    first, second = play(SALON, outcome="busy"), play(SALON, outcome="busy")

    shown = first.as_json()
    assert list(shown) == ["flow", "call_sid", "trigger", "heard", "dialed", "requests", "sms",
                           "ended_by"]
    assert all(set(r) == {"path", "params", "twiml"} for r in shown["requests"])
    assert first.call_sid != second.call_sid
    assert len(first.call_sid) == 34 and first.call_sid.startswith("CA")
    assert shown["sms"] == [{
        "to": CALLER, "from": "SalonBelle", "status": "sent", "encoding": "GSM-7",
        "segments": 1, "body": "Salon Belle: we are on another call right now. "
                               "Book online in a minute: https://belle.example/book",
    }]


def test_every_request_is_signed_as_twilio_signs(tmp_path: Path) -> None:
    # The in-process engine checks every signature: an unsigned request would get 403.
    call = play(SALON, outcome="busy")

    assert [r["path"].split("?")[0] for r in call.requests[:2]] == ["/voice", "/voice/status"]
    assert posted(call, "/voice")[0]["From"] == CALLER


def test_texts_get_their_status_callbacks() -> None:
    call = play(SALON, outcome="busy")

    callbacks = posted(call, "/sms/status")
    assert [p["MessageStatus"] for p in callbacks] == ["sent", "delivered"]
    assert callbacks[0]["MessageSid"] == callbacks[1]["MessageSid"]
    assert callbacks[0]["MessageSid"].startswith("SM")


def test_no_text_status_callbacks_where_the_engine_has_no_route() -> None:
    messages = _Messages()
    messages.send(CALLER, "Shop", "Hello", "http://engine.test/sms/status")
    engine = Scripted({})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(engine)) as client:
            wire = Wire(client, "http://engine.test", None)
            await _text_callbacks(wire, messages, Call("f", "CA1", TUESDAY_10))

    asyncio.run(go())
    assert [path for path, _ in engine.seen] == ["/sms/status"]  # a 404, then nothing more


def dial_line(flow_file: Path) -> int:
    """The line of the first `- dial:` in a flow file, counted from 1."""
    lines = flow_file.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.strip().startswith("- dial"))


def test_the_story_shows_time_speaker_and_the_flow_line() -> None:
    text = story(play(SALON, outcome="busy"))

    dialing = next(line for line in text.splitlines() if "dials +48601234567" in line)
    assert dialing.split()[0] == f"{WELCOME:.1f}s"
    assert dialing.split()[1] == "engine"
    assert dialing.endswith(f"line {dial_line(REPO / 'flows' / 'salon-belle.yaml')}")
    assert "Trigger: busy." in text
    assert "sent, to +48601111222 from SalonBelle, GSM-7, 1 segment(s)" in text


def test_simulate_json_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--flows", str(REPO / "flows"), "--greetings", str(REPO / "greetings"),
                 "simulate", "salon-belle", "--outcome", "busy", "--at", "2026-05-05T10:00",
                 "--from", "+48 601 111 222", "--json"])

    shown = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (shown["trigger"], shown["ended_by"]) == ("busy", "engine")
    assert shown["dialed"] == [{"to": "+48601234567", "status": "busy", "screened": False}]
    assert shown["requests"][0]["params"]["From"] == "+48601111222"


# --- against a running engine (--url) ---------------------------------------------------


def test_url_drives_a_running_engine_and_reads_its_record(serve: Callable[..., Any]) -> None:
    engine = serve()
    script = Script(caller=CALLER, line=SALON.lines[0], at=TUESDAY_10, outcome="busy")

    call = asyncio.run(simulate_remote(engine.url, SALON, script, engine.token))

    assert call.trigger == "busy"
    assert [text["status"] for text in call.sms] == ["sent"]
    assert engine.store.call(call.call_sid).ended


def test_the_report_answers_only_signed_requests(serve: Callable[..., Any]) -> None:
    engine = serve()

    response = engine.post("/voice/report", {"CallSid": "CA" + "1" * 32}, signature="bm8=")

    assert response.status_code == 403


def test_url_with_a_wrong_token_is_refused(serve: Callable[..., Any]) -> None:
    engine = serve()
    script = Script(caller=CALLER, line=SALON.lines[0], at=TUESDAY_10)

    with pytest.raises(SimulationError, match="403"):
        asyncio.run(simulate_remote(engine.url, SALON, script, "not-the-token"))


SECOND_PHONE = """\
line: "+48 22 307 15 02"
business: Studio Dwa
region: PL
sms:
  copy:
    missed: "Studio Dwa: sorry we missed you. Book here: https://dwa.example/book"
on:
  open:
    - dial:
        to: "601 234 567"
        timeout: 20
        on:
          missed:
            - say: "Trying our second phone."
            - dial: {to: "609 876 543", timeout: 15}
  missed:
    - sms: missed
"""


@pytest.mark.parametrize("seconds", [
    pytest.param(5, id="hangs up while the first phone rings"),
    pytest.param(23, id="hangs up while the second phone rings"),
])
def test_a_caller_gone_during_a_dial_with_its_own_missed_steps_gets_the_missed_text(
    tmp_path: Path, seconds: float
) -> None:
    flow = write_flow(tmp_path, "second-phone", SECOND_PHONE)
    call = play(flow, outcome="no-answer", hangup_after=seconds)
    assert call.ended_by == "caller"
    assert call.trigger == "missed"
    assert [(t["status"], t["body"]) for t in call.sms] == [
        ("sent", "Studio Dwa: sorry we missed you. Book here: https://dwa.example/book"),
    ]


FRAGILE_COPY = """\
line: "+48 22 307 15 03"
business: Studio Trzy
region: PL
on:
  open:
    - say: "Hello."
    - sms: "Studio Trzy {{ 1 // ((caller | length) - 13) }} https://trzy.example/book"
"""


def test_copy_that_breaks_on_one_callers_values_fails_that_text_not_the_call(
    tmp_path: Path,
) -> None:
    flow = write_flow(tmp_path, "fragile", FRAGILE_COPY)
    # "+447911123456" has 13 characters: the copy divides by zero for this caller only.
    script = Script(caller="+447911123456", line=flow.lines[0], at=TUESDAY_10)
    call = asyncio.run(simulate(SETTINGS, flow, script))
    assert call.heard == [{"say": "Hello."}]
    assert [(t["status"], t.get("reason")) for t in call.sms] == [("failed", "copy-error")]


GOTO_AND_REPEAT = """\
line: "+48 22 307 15 04"
business: Studio Cztery
region: PL
sms:
  cooldown: 0
  copy:
    m: "Studio Cztery ({{ trigger }}): book at https://cztery.example/book"
on:
  open:
    - say: "Hello."
    - goto: missed
  missed:
    - sms: m
    - sms: {copy: m}
    - say: "Goodbye."
"""


def test_a_goto_moves_the_call_and_a_text_sent_twice_is_a_duplicate(tmp_path: Path) -> None:
    flow = write_flow(tmp_path, "goto", GOTO_AND_REPEAT)
    call = play(flow)
    assert call.trigger == "missed"
    assert call.heard == [{"say": "Hello."}, {"say": "Goodbye."}]
    first, second = call.sms
    assert (first["status"], first["body"]) == (
        "sent", "Studio Cztery (missed): book at https://cztery.example/book"
    )
    assert (second["status"], second["reason"]) == ("skipped", "duplicate")
