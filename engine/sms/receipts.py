"""Delivery receipts: what Twilio reports on `POST /sms/status` about a text the engine sent.

Twilio posts `MessageStatus` (queued → sending → sent → delivered or undelivered, or
failed) and, on failure, `ErrorCode`. The callbacks can arrive twice, late and out of
order, so every one is kept, and the text's status only ever moves forward
(`engine.store.MESSAGE_STATUS_RANK`): a `sent` arriving after `delivered` is kept in the
history and changes nothing.

The engine's StatusCallback carries the text's own id (`/sms/status?message=7`), so a
callback is placed even when Twilio's answer to the send was lost (the text is
`unknown` until its first callback) or overtaken by the callback itself. A callback that
names no text of the engine is kept all the same, unattached.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from engine.phone import mask
from engine.sms.refusals import Learned, consequence, learn
from engine.store import Message, Store

__all__ = ["record_receipt"]

log = logging.getLogger("ringback.sms")

FAILURES = frozenset({"undelivered", "failed"})


def record_receipt(
    store: Store, params: Mapping[str, str], message_id: str | None = None
) -> Message | None:
    """Keep one status callback and apply it to its text; the text as it now stands.

    `message_id` is the `message` query parameter of the callback URL, if any. A
    callback with ErrorCode 30006 also remembers the number as a landline, and 21610
    opts the caller out of the line (`engine.sms.refusals`).
    """
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    code = _int(params.get("ErrorCode"))
    target = _locate(store, message_id, sid)
    message = store.record_receipt(target.id if target else None, sid, status, code, params)
    if message is None:
        log.warning("Status %s for text %s, which this engine did not send: kept.", status, sid)
        return None
    learned = learn(store, message, code) if code is not None else None
    _log(message, status, code, learned)
    return message


def _locate(store: Store, message_id: str | None, sid: str) -> Message | None:
    """The text a callback is about: by the id in its URL, else by Twilio's id.

    The URL's id is believed only if the text has no Twilio id yet or the same one.
    """
    if message_id and message_id.isdigit():
        message = store.message(int(message_id))
        if message is not None and message.provider_sid in (None, sid):
            return message
    return store.message_by_sid(sid) if sid else None


def _log(message: Message, status: str, code: int | None, learned: Learned | None) -> None:
    level = logging.WARNING if status in FAILURES else logging.INFO
    error = f" (error {code})" if code is not None else ""
    log.log(
        level, "Call %s: text %s to %s reported %s%s, now %s%s.",
        message.call_sid, message.id, mask(message.to_number), status, error,
        message.status, consequence(learned),
    )


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None
