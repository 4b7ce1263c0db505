"""What a refusal from Twilio teaches the engine about a number, beyond the one text.

Most error codes are about one message. A few are about the person behind the number,
and the engine keeps them so that it never asks Twilio the same question twice:

- 21610: the caller replied STOP to this sender, and Twilio will refuse every text to
  them until they reply START. The caller is opted out of the line that sent it, the
  same as if their STOP had reached the engine.
- 21614 (`To` is not a mobile number), 21635 (`To` is a landline), and 30006 (landline
  or unreachable carrier, reported later on the status callback): the number is
  remembered as a landline, for every line.
"""

from __future__ import annotations

from typing import Final, Literal

from engine.store import Message, Store

__all__ = ["LANDLINE_CODES", "OPT_OUT_CODES", "Learned", "consequence", "learn"]

LANDLINE_CODES: Final = frozenset({21614, 21635, 30006})
OPT_OUT_CODES: Final = frozenset({21610})


Learned = Literal["landline", "opted-out"]


def consequence(learned: Learned | None) -> str:
    """How a log line ends when a refusal taught something: "; remembered as a landline"."""
    if learned is None:
        return ""
    return {"landline": "; remembered as a landline",
            "opted-out": "; the caller is opted out of this line"}[learned]


def learn(store: Store, message: Message, code: int | None) -> Learned | None:
    """Keep what `code` says about the message's number; what was learned, if anything.

    21614 on a text to "+12025550188" → "landline" (that number is skipped from now on);
    21610 → "opted-out" (of the message's line); 30003 → None.
    """
    if code in LANDLINE_CODES:
        store.remember_landline(message.to_number, code)
        return "landline"
    if code in OPT_OUT_CODES:
        store.opt_out(message.line, message.to_number, source=f"twilio-{code}")
        return "opted-out"
    return None
