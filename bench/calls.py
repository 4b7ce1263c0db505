"""The requests the benchmark sends: Twilio's parameter sets, fresh CallSids, signed.

The parameter sets carry every key Twilio sends on a PSTN call (reference §2.1-2.3, and
the key set of a logged inbound-call webhook): the geo fields, the legacy `Caller*` and
`Called*` duplicates, `CallToken` and `StirVerstat` on the first webhook, the `Dial*`
fields on the dial action, `Timestamp`, `SequenceNumber` and `CallbackSource` on the
status callback. Each request is a call of its own (a fresh `CallSid`, a distinct mobile
caller, so that no text is held back by the flow's cooldown), and is signed with twilio's
own `RequestValidator` for the URL the engine checks it against.

The dial action and the status callback need calls the engine already knows: `seed` puts
them in the store before the server starts, in the state a call has on reaching that
webhook.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from twilio.request_validator import RequestValidator

FLOW = "salon-belle"
LINE = "+48223071500"
PUBLIC_URL = "https://calls.example.com"
TOKEN = "bench-auth-token-0123456789abcdef"
TUESDAY_MORNING = "2026-05-05T10:00:00+02:00"  # open hours in Warsaw: the `open` trigger
ACCOUNT = "AC" + "5f" * 16

# The URL each measured path has on the engine, as Twilio requests it.
ENGINE_PATHS = {
    "voice": "/voice",
    "dial": f"/voice/dial?flow={FLOW}&step=on.open.1",
    "status": "/voice/status",
}

_CALL_TOKEN = json.dumps(
    {
        "parentCallInfoToken": "eyJhbGciOiJFUzI1NiJ9." + "x" * 180,
        "identityHeaderTokens": ["eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiJ9." + "y" * 220],
    },
    separators=(",", ":"),
)


def caller(index: int) -> str:
    """A distinct Polish mobile number per call: +48 601 000 000 onwards."""
    return f"+48601{index:06d}"


def sid(kind: str, rep: int, index: int) -> str:
    """A CallSid unique to the path, the repetition and the call."""
    return f"CA{kind[0]}{rep:03x}{index:028x}"


def _standard(call_sid: str, number: str, status: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
        "Called": LINE,
        "CalledCity": "",
        "CalledCountry": "PL",
        "CalledState": "",
        "CalledZip": "",
        "Caller": number,
        "CallerCity": "",
        "CallerCountry": "PL",
        "CallerState": "",
        "CallerZip": "",
        "Direction": "inbound",
        "From": number,
        "FromCity": "",
        "FromCountry": "PL",
        "FromState": "",
        "FromZip": "",
        "To": LINE,
        "ToCity": "",
        "ToCountry": "PL",
        "ToState": "",
        "ToZip": "",
    }


def params(kind: str, call_sid: str, number: str) -> dict[str, str]:
    """Twilio's parameters for one webhook of one call."""
    if kind == "voice":
        return {
            **_standard(call_sid, number, "ringing"),
            "CallToken": _CALL_TOKEN,
            "StirVerstat": "TN-Validation-Passed-A",
            "RingbackSimulatedAt": TUESDAY_MORNING,  # signed, so the trigger is `open`
        }
    if kind == "dial":
        return {
            **_standard(call_sid, number, "in-progress"),
            "DialCallStatus": "busy",
            "DialCallSid": "CA" + call_sid[2:][::-1],
            "DialCallDuration": "0",
            "DialBridged": "false",
        }
    return {
        **_standard(call_sid, number, "completed"),
        "CallDuration": "14",
        "Timestamp": format_datetime(datetime(2026, 5, 5, 8, 0, 14, tzinfo=UTC)),
        "SequenceNumber": "2",
        "CallbackSource": "call-progress-events",
    }


@dataclass(frozen=True)
class Signed:
    call_sid: str
    caller: str
    signature: str
    body: str


def signed(kind: str, rep: int, start: int, count: int) -> Iterator[Signed]:
    """`count` signed requests of `kind` for repetition `rep`, callers from `start`."""
    validator = RequestValidator(TOKEN)
    url = PUBLIC_URL + ENGINE_PATHS[kind]
    for index in range(start, start + count):
        call_sid, number = sid(kind, rep, index), caller(index)
        values = params(kind, call_sid, number)
        signature = validator.compute_signature(url, values)
        yield Signed(call_sid, number, signature, urlencode(values, quote_via=quote))


def seed(db: str, kind: str, requests: list[Signed]) -> None:
    """Put the calls these requests are about in the store, as they stand at that webhook.

    `dial`: calls under `open`, their business line ringing. `status`: calls the business
    was busy for, their busy text already claimed and sent.
    """
    from sqlalchemy import insert

    from engine.flows.registry import FlowSet
    from engine.store import Store, calls, messages

    flow = FlowSet.load(_flows()).by_id[FLOW]
    at = datetime(2026, 5, 5, 8, 0, tzinfo=UTC)
    busy = kind == "status"
    rows = [
        {
            "call_sid": r.call_sid,
            "flow_id": FLOW,
            "line": LINE,
            "caller": r.caller,
            "started_at": at,
            "trigger": "busy" if busy else "open",
            "state": "active",
            "answered": False,
            "status": "in-progress",
            "sequence": 1,
            "busy_known": busy,
        }
        for r in requests
    ]
    store = Store(db)
    store.create()
    with store.engine.begin() as connection:
        connection.execute(insert(calls), rows)
        if busy:
            step = next(a.key for a in flow.triggers["busy"] if a.name == "sms")
            texts = [
                {
                    "call_sid": r.call_sid,
                    "step": step,
                    "flow_id": FLOW,
                    "line": LINE,
                    "trigger": "busy",
                    "to_number": r.caller,
                    "status": "sent",
                    "created_at": at,
                    "updated_at": at,
                    "attempts": 1,
                }
                for r in requests
            ]
            connection.execute(insert(messages), texts)
    store.close()


def _flows() -> Path:
    return Path(__file__).resolve().parent.parent / "flows"
