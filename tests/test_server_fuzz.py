"""Whatever arrives on a webhook, the engine never answers 500 nor a stack trace: a 4xx,
or (where Twilio waits on a live call) a well-formed TwiML document from byte 0."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.server import create_app
from engine.settings import Settings
from tests.conftest import REPO, start_uvicorn, stop_uvicorn

ENDPOINTS = [
    "/voice",
    "/voice/status",
    "/voice/dial?flow=salon-belle&step=on.open.1",
    "/voice/dial?flow=nope&step=x",
    "/voice/recorded?flow=salon-belle&step=on.missed.1",
    "/voice/ended",
]
KNOWN = [
    "CallSid",
    "From",
    "To",
    "CallStatus",
    "DialCallStatus",
    "SequenceNumber",
    "CallDuration",
    "RecordingUrl",
    "Timestamp",
    "RingbackSimulatedAt",
]
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "+48223071500",
            "+48601111222",
            "completed",
            "busy",
            "Anonymous",
            "",
            "²",
            "-1",
            "99999999999999999999",
            "2026-05-05T10:00:00+02:00",
        ]
    ),
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """An unsigned engine on loopback, so that every request reaches the webhook code."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    app = create_app(
        Settings(
            flows=REPO / "flows",
            greetings=REPO / "greetings",
            db=f"sqlite:///{folder / 'fuzz.db'}",
            watch=False,
        )
    )
    server, thread, url = start_uvicorn(app)
    with httpx.Client(base_url=url, timeout=10) as http:
        yield http
    stop_uvicorn(server, thread)


def assert_safe(response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    body: bytes = response.content  # type: ignore[attr-defined]
    assert status != 500 and b"Traceback" not in body
    if status == 200:
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        assert ET.fromstring(body).tag == "Response"
    else:
        assert 400 <= status < 600


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    params=st.dictionaries(
        st.one_of(st.sampled_from(KNOWN), st.text(max_size=12)), VALUES, max_size=8
    ),
)
def test_any_form_gets_a_safe_answer(
    client: httpx.Client, endpoint: str, params: dict[str, str]
) -> None:
    assert_safe(client.post(endpoint, data=params))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=st.binary(max_size=300),
    kind=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "application/json",
            "multipart/form-data; boundary=x",
            "text/plain",
            "",
        ]
    ),
)
def test_any_body_gets_a_safe_answer(
    client: httpx.Client, endpoint: str, body: bytes, kind: str
) -> None:
    headers = {"content-type": kind} if kind else {}
    assert_safe(client.post(endpoint, content=body, headers=headers))


def test_a_huge_body_is_refused_without_a_trace(client: httpx.Client) -> None:
    response = client.post(
        "/voice",
        content=b"CallSid=" + b"A" * 200_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


def test_a_call_from_a_garbled_number_still_gets_twiml(client: httpx.Client) -> None:
    response = client.post(
        "/voice",
        data={
            "CallSid": "CA1",
            "To": "+48223071500",
            "From": "\x00\ufffd<&>",
            "CallStatus": "ringing",
        },
    )
    assert response.status_code == 200
    assert_safe(response)
    assert len(ET.fromstring(response.content)) > 0  # the flow's steps, not an empty answer
