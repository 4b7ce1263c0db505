"""An engine that can face the internet: signatures behind proxies, escaping, safe files,
reloads that never take a working line down, and fallbacks when the store is gone."""

from __future__ import annotations

import http.client
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from tests.conftest import REPO, TOKEN
from tests.test_webhooks import LINE, incoming

PUBLIC = "https://hooks.example.test"


def signed_for(url: str, params: dict[str, str]) -> str:
    return RequestValidator(TOKEN).compute_signature(url, params)


def post_as_proxy(engine: Any, params: dict[str, str], headers: dict[str, str]) -> httpx.Response:
    signature = signed_for(f"{PUBLIC}/voice", params)
    return httpx.post(engine.url + "/voice", data=params,
                      headers={**headers, "X-Twilio-Signature": signature})


def test_a_trusted_proxy_forwarding_https_is_believed(serve: Any) -> None:
    engine = serve()  # trusts 127.0.0.1, as uvicorn does by default
    params = incoming("CA" + "5" * 32)
    headers = {"X-Forwarded-Proto": "https", "Host": "hooks.example.test"}
    assert post_as_proxy(engine, params, headers).status_code == 200


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(serve: Any) -> None:
    engine = serve(forwarded_allow_ips=("10.20.30.40",))
    params = incoming("CA" + "6" * 32)
    headers = {"X-Forwarded-Proto": "https", "Host": "hooks.example.test"}
    assert post_as_proxy(engine, params, headers).status_code == 403


def test_a_forwarded_host_counts_from_a_trusted_proxy(serve: Any) -> None:
    engine = serve()
    params = incoming("CA" + "7" * 32)
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hooks.example.test"}
    assert post_as_proxy(engine, params, headers).status_code == 200


def test_public_url_is_what_signatures_are_checked_against(serve: Any) -> None:
    engine = serve(public_url=PUBLIC)
    assert post_as_proxy(engine, incoming("CA" + "8" * 32), {}).status_code == 200


@pytest.mark.parametrize("signed_url", [
    pytest.param(f"{PUBLIC}/voice", id="without port"),
    pytest.param("https://hooks.example.test:443/voice", id="with default port"),
])
def test_a_default_port_validates_in_either_form(serve: Any, signed_url: str) -> None:
    engine = serve(public_url=PUBLIC)
    params = incoming("CA" + "9" * 32)
    response = httpx.post(engine.url + "/voice", data=params,
                          headers={"X-Twilio-Signature": signed_for(signed_url, params)})
    assert response.status_code == 200


def test_a_non_default_port_validates_only_as_signed(serve: Any) -> None:
    engine = serve(public_url="https://hooks.example.test:8443")
    params = incoming("CA" + "9a" * 16)
    as_signed = signed_for("https://hooks.example.test:8443/voice", params)
    portless = signed_for(f"{PUBLIC}/voice", params)
    assert engine.post("/voice", params, signature=as_signed).status_code == 200
    assert engine.post("/voice", params, signature=portless).status_code == 403


def test_query_strings_are_checked_as_received(serve: Any) -> None:
    engine = serve(public_url=PUBLIC)
    sid = "CA" + "ab" * 16
    params = incoming(sid)
    engine.post("/voice", params, signature=signed_for(f"{PUBLIC}/voice", params))
    path = "/voice/dial?step=on.open.1&flow=salon-belle"  # not the order the engine writes
    dial = incoming(sid, DialCallStatus="busy")
    good = signed_for(PUBLIC + path, dial)
    resorted = signed_for(f"{PUBLIC}/voice/dial?flow=salon-belle&step=on.open.1", dial)
    assert engine.post(path, dial, signature=good).status_code == 200
    assert engine.post(path, dial, signature=resorted).status_code == 403


def write_flow(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


ESCAPES = "Smith & Sons <Plumbing> - Café Müller, après 17h"
SIGNED_AUDIO = "https://cdn.example.com/hold.mp3?sig=abc&exp=1700000000"


def test_say_text_and_play_urls_come_back_exactly_from_a_strict_parser(
    serve: Any, tmp_path: Path
) -> None:
    flows = tmp_path / "flows"
    write_flow(flows, "plumber", f"""\
line: "{LINE}"
business: "Smith & Sons"
on:
  open:
    - say: "{ESCAPES}"
    - play: "{SIGNED_AUDIO}"
    - hangup
""")
    engine = serve(flows=flows)
    response = engine.post("/voice", incoming("CA" + "c" * 32))
    assert response.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(response.content)
    assert [(c.tag, c.text) for c in root] == [
        ("Say", ESCAPES), ("Play", SIGNED_AUDIO), ("Hangup", None),
    ]
    assert "&eacute;" not in response.text and "&amp;amp;" not in response.text


@pytest.mark.parametrize("path", [
    "/greetings/../pyproject.toml",
    "/greetings/..%2Fpyproject.toml",
    "/greetings/%2e%2e/pyproject.toml",
    "/greetings/%2E%2E%2Fpyproject.toml",
    "/greetings/..%5Cpyproject.toml",
    "/greetings//etc/passwd",
    "/greetings/%2Fetc%2Fpasswd",
])
def test_greetings_never_serve_files_outside_their_folder(serve: Any, path: str) -> None:
    engine = serve()
    host, port = engine.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", path)  # sent as written: no client-side normalising
        response = connection.getresponse()
        assert response.status == 404
        assert b"[project]" not in response.read()
    finally:
        connection.close()


def test_a_symlink_out_of_the_greetings_folder_is_not_followed(serve: Any, tmp_path: Path) -> None:
    greetings = tmp_path / "greetings"
    greetings.mkdir()
    (greetings / "leak.wav").symlink_to(REPO / "pyproject.toml")
    engine = serve(greetings=greetings)
    assert httpx.get(engine.url + "/greetings/leak.wav").status_code == 404


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the engine did not reload in time"
        time.sleep(0.05)


def dial_timeout(engine: Any, sid: str) -> str | None:
    root = ET.fromstring(engine.post("/voice", incoming(sid)).content)
    dial = root.find("Dial")
    return None if dial is None else dial.get("timeout")


def watched_salon(serve: Any, tmp_path: Path) -> tuple[Any, Any, Path, str]:
    """An engine watching a flows folder of its own with Salon Belle's flow in it."""
    flows = tmp_path / "flows"
    source = (REPO / "flows" / "salon-belle.yaml").read_text()
    path = write_flow(flows, "salon-belle", source)
    engine = serve(flows=flows)
    return engine, engine.app.state.engine, path, source


def test_a_flow_broken_while_running_keeps_its_last_good_version(
    serve: Any, tmp_path: Path
) -> None:
    engine, state, path, source = watched_salon(serve, tmp_path)
    assert dial_timeout(engine, "CA" + "d1" * 16) == "20"

    path.write_text(source.replace("timeout: 20", "timeout: 2"))
    wait_until(lambda: str(path) in state.flows.refused)
    assert dial_timeout(engine, "CA" + "d2" * 16) == "20"

    path.write_text(source.replace("timeout: 20", "timeout: 30"))
    wait_until(lambda: str(path) not in state.flows.refused)
    assert dial_timeout(engine, "CA" + "d3" * 16) == "30"


def test_a_call_in_progress_finishes_on_the_version_it_started_with(
    serve: Any, tmp_path: Path
) -> None:
    engine, state, path, source = watched_salon(serve, tmp_path)
    sid = "CA" + "e1" * 16
    dial = ET.fromstring(engine.post("/voice", incoming(sid)).content).find("Dial")
    assert dial is not None
    action = str(dial.get("action"))
    before = state.flows.by_id["salon-belle"]

    path.write_text(source.replace("We are on another call right now.", "Changed wording."))
    wait_until(lambda: state.flows.by_id["salon-belle"] is not before)
    root = ET.fromstring(engine.post(action, incoming(sid, DialCallStatus="busy")).content)
    assert root[0].text.startswith("We are on another call right now.")  # type: ignore[union-attr]


def test_two_files_claiming_one_number_are_both_refused(tmp_path: Path) -> None:
    from engine.flows.registry import FlowSet

    flows = tmp_path / "flows"
    source = (REPO / "flows" / "salon-belle.yaml").read_text()
    first = write_flow(flows, "first", source)
    second = write_flow(flows, "second", source)
    loaded = FlowSet.load(flows)
    assert loaded.by_id == {}
    assert str(second) in str(loaded.refused[str(first)])
    assert str(first) in str(loaded.refused[str(second)])


def test_without_a_store_calls_still_get_valid_twiml(serve: Any, tmp_path: Path) -> None:
    engine = serve(db=f"sqlite:///{tmp_path / 'missing' / 'folder' / 'ringback.db'}")
    health = httpx.get(engine.url + "/healthz")
    assert health.status_code == 503
    response = engine.post("/voice", incoming("CA" + "f1" * 16))
    root = ET.fromstring(response.content)
    assert response.status_code == 200
    dial = root.find("Dial")
    assert dial is not None and dial.text == "+48601234567" and dial.get("action")
    status = engine.post("/voice/status", incoming("CA" + "f1" * 16, CallStatus="completed"))
    assert status.status_code == 503 and "Traceback" not in status.text


def test_without_a_store_no_twilio_endpoint_answers_500(serve: Any, tmp_path: Path) -> None:
    engine = serve(db=f"sqlite:///{tmp_path / 'missing' / 'folder' / 'ringback.db'}")
    sid = "CA" + "f2" * 16
    ended = engine.post("/voice/ended", incoming(sid, DialCallStatus="completed"))
    assert ended.status_code == 200 and ET.fromstring(ended.content).tag == "Response"
    reply = {"MessageSid": "SM" + "1" * 32, "From": "+48601111222", "To": LINE, "Body": "hi"}
    assert engine.post("/sms", reply).status_code == 503
    receipt = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}
    assert engine.post("/sms/status", receipt).status_code == 503


def test_a_file_that_is_not_a_database_is_reported_unhealthy(serve: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database file, just text " * 200)
    engine = serve(db=f"sqlite:///{broken}")
    assert httpx.get(engine.url + "/healthz").status_code == 503
    response = engine.post("/voice", incoming("CA" + "f3" * 16))
    assert response.status_code == 200 and ET.fromstring(response.content).find("Dial") is not None


def test_a_first_webhook_without_a_call_sid_is_refused(serve: Any) -> None:
    engine = serve()
    params = incoming("CA" + "f4" * 16)
    del params["CallSid"]
    assert engine.post("/voice", params).status_code == 400


def test_metrics_count_calls_and_texts_from_the_store(serve: Any) -> None:
    engine = serve()
    sid = "CA" + "0a" * 16
    engine.post("/voice", incoming(sid))
    engine.post("/voice/status", incoming(sid, CallStatus="completed", SequenceNumber="1"))
    engine.wait_for(lambda: [m.status for m in engine.store.messages_for_call(sid)] == ["sent"])
    text = httpx.get(engine.url + "/metrics").text
    assert 'ringback_calls{trigger="missed"} 1.0' in text
    assert 'ringback_texts{reason="",status="sent"} 1.0' in text
    assert "ringback_outbox_depth 0.0" in text
    assert 'ringback_webhook_seconds_count{route="/voice"} 1.0' in text


def test_the_example_flows_folder_is_untouched() -> None:
    # The reload tests above edit copies in their own folders, never the shipped flow.
    assert (REPO / "flows" / "salon-belle.yaml").read_text().count("timeout: 20") == 1
