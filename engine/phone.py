"""Phone numbers as Ringback reads them.

Numbers reach the engine from two places: flow files, where an author may write a number
the way it is dialled at home (``07911 123456`` with ``region: GB``), and Twilio's
webhooks, whose ``From`` is usually E.164 but may be a word or a keypad-spelled stand-in
when the caller withholds their number. This module decides, in one place:

- what a number is in E.164, and the message an author sees when it is not a number;
- whether a caller withheld their number (``no-caller-id``) or sent one that does not
  exist (``invalid-number``) — the two reasons an ``sms`` step skips a caller;
- whether the numbering plan says mobile or fixed line (it cannot tell in the US and
  Canada, where most numbers may be either);
- whether a destination accepts an alphanumeric sender such as ``SalonBelle``;
- how a number is masked before it reaches a log.

Parsing and validation are libphonenumber's (the ``phonenumbers`` port); the withheld
markers and the alphanumeric-sender rules are Twilio's behaviour.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final, Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType

__all__ = [
    "CallerId",
    "LineType",
    "PhoneNumberError",
    "accepts_alphanumeric_sender",
    "is_alphanumeric_sender",
    "is_withheld",
    "line_type",
    "mask",
    "mask_text",
    "read_caller",
    "region_of",
    "to_e164",
]


class PhoneNumberError(ValueError):
    """Text that is not a valid phone number; the message says what was expected."""


class LineType(enum.StrEnum):
    """What the numbering plan says about the line behind a number.

    ``either`` is a number the plan cannot place: libphonenumber's FIXED_LINE_OR_MOBILE
    (ordinary US and Canadian numbers), and also VoIP and personal (follow-me) numbers,
    which ring whatever line their owner chose. ``other`` is a service number that is no
    one's line: toll-free, premium rate, shared cost, UAN, pager, voicemail, and numbers
    the plan does not know.
    """

    MOBILE = "mobile"
    FIXED_LINE = "fixed-line"
    EITHER = "either"
    OTHER = "other"


_LINE_TYPES: Final[dict[int, LineType]] = {
    PhoneNumberType.MOBILE: LineType.MOBILE,
    PhoneNumberType.FIXED_LINE: LineType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.EITHER,
    PhoneNumberType.VOIP: LineType.EITHER,
    PhoneNumberType.PERSONAL_NUMBER: LineType.EITHER,
}

# Words carriers and Twilio put in `From` when the caller's number is withheld.
_WITHHELD_WORDS: Final = frozenset(
    {"anonymous", "restricted", "unknown", "unavailable", "private", "blocked",
     "withheld", "not available", "no caller id", "unknown caller"}
)  # fmt: skip

# The same words spelled on a phone keypad (2=ABC … 9=WXYZ), which some carriers send in
# place of a number. None is a valid number; the test suite re-spells each word.
_WITHHELD_KEYPAD: Final = frozenset(
    {
        "266696687",  # ANONYMOUS
        "7378742833",  # RESTRICTED
        "86282452253",  # UNAVAILABLE
        "2562533",  # BLOCKED
        "7748283",  # PRIVATE
        "8656696",  # UNKNOWN
        "94844353",  # WITHHELD
    }
)

# Destinations that refuse an alphanumeric sender (or accept only pre-registered ones).
# It mirrors Twilio's country guidelines (the "International support for Alphanumeric
# Sender ID" table, from a December 2022 copy: re-check it there), leaving out +1, which
# accepts_alphanumeric_sender refuses by calling code. It is conservative: sending from
# the line's own number costs only the brand name, a refused sender costs the text.
_NO_ALPHANUMERIC_SENDER: Final = frozenset(
    {"AE", "AF", "AM", "AR", "BE", "BJ", "BR", "BY", "CD", "CI", "CL", "CM", "CN", "CO",
     "CR", "CU", "EC", "EG", "EH", "ET", "GF", "GH", "GN", "GW", "HK", "HU", "ID", "IL",
     "IN", "IR", "JO", "KE", "KG", "KR", "KW", "KZ", "LK", "LR", "MA", "MM", "MX", "MY",
     "NG", "NI", "NP", "NR", "NZ", "OM", "PA", "PE", "PH", "PY", "QA", "RU", "RW", "SA",
     "SD", "SS", "SV", "SY", "SZ", "TH", "TN", "TR", "TW", "TZ", "UG", "UY", "VE", "VN",
     "ZA", "ZM"}
)  # fmt: skip

_NANP_CALLING_CODE: Final = 1

# Twilio's AlphaSender rule: 1 to 11 of these characters, at least one of them a letter.
_ALPHANUMERIC_SENDER: Final = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 +&_-]{1,11}")

# A number inside a log line: "+" (or its URL encoding "%2B") and at least 7 digits.
_NUMBER_IN_TEXT: Final = re.compile(r"(\+|%2[Bb])(\d{7,})")
_BARE_NUMBER: Final = re.compile(r"\+?\d+")


@dataclass(frozen=True)
class CallerId:
    """A caller's number in E.164, or why there is none to text.

    ``CallerId("+48601234567", None)``, ``CallerId(None, "no-caller-id")`` or
    ``CallerId(None, "invalid-number")``.
    """

    e164: str | None
    problem: Literal["no-caller-id", "invalid-number"] | None


def to_e164(text: str, region: str | None) -> str:
    """The E.164 form of a number written by a person.

    `region` (ISO 3166, e.g. "GB") reads numbers written without "+country"; numbers with
    one ignore it. A national trunk "0" written after the country code is dropped where
    the country has one (UK "+44 (0)79…"), and kept where it belongs to the number (Italy).

    "+44 (0)7911 123456", "+4407911123456", and "07911 123456" with region "GB" all
    give "+447911123456".

    Raises PhoneNumberError when the text is not a valid number.
    """
    number = _parse(text, region)
    if not phonenumbers.is_valid_number(number):
        raise PhoneNumberError(_invalid_message(text, number, region))
    if number.extension:
        raise PhoneNumberError(
            f'"{text}" has an extension ({number.extension}); a text cannot reach one'
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(text: str, region: str | None) -> PhoneNumber:
    """Parse with libphonenumber, turning its exceptions into readable ones."""
    stripped = text.strip()
    if not stripped.startswith("+"):
        _check_region(text, region)
    try:
        return phonenumbers.parse(stripped, region.upper() if region else None)
    except NumberParseException as error:
        raise PhoneNumberError(_unparseable_message(text, error)) from None


def _check_region(text: str, region: str | None) -> None:
    """A number without "+country" needs a known region to be read."""
    if region is None:
        raise PhoneNumberError(
            f'"{text}" has no country code: write it as +<country code><number>, '
            "e.g. +48601234567, or set `region`"
        )
    if region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise PhoneNumberError(
            f'region "{region}" is not an ISO 3166 region code; expected e.g. "GB" or "PL"'
        )


def _unparseable_message(text: str, error: NumberParseException) -> str:
    """What a libphonenumber parse failure means for the person who wrote `text`."""
    if error.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        return f'"{text}" does not start with a known country code; expected e.g. +48601234567'
    if error.error_type == NumberParseException.TOO_LONG:
        return f'"{text}" is too long for a phone number'
    if error.error_type == NumberParseException.NOT_A_NUMBER:
        return f'"{text}" is not a phone number; expected digits, e.g. +48601234567'
    return f'"{text}" is too short for a phone number'


def _invalid_message(text: str, number: PhoneNumber, region: str | None) -> str:
    """Name the plan the number failed, as the author wrote it: region or country code."""
    if text.strip().startswith("+") or region is None:
        return f'"{text}" is not a valid phone number for country code +{number.country_code}'
    return f'"{text}" is not a valid phone number for region {region.upper()}'


def is_withheld(value: str | None) -> bool:
    """Whether a `From` value stands for a withheld caller ID rather than a number.

    True for None, blank text, the words carriers use ("Anonymous", "RESTRICTED",
    "not available" …) in any case, and their keypad spellings with or without "+"
    ("+266696687" is ANONYMOUS). "+48601234567" → False.
    """
    if value is None or not value.strip():
        return True
    words = " ".join(value.replace("_", " ").split()).casefold()
    return words in _WITHHELD_WORDS or words.removeprefix("+") in _WITHHELD_KEYPAD


def read_caller(value: str | None, region: str | None) -> CallerId:
    """Read a caller's `From` without raising: a number, or the reason there is none.

    "+48 601 234 567" → CallerId("+48601234567", None); "Anonymous" →
    CallerId(None, "no-caller-id"); "+4860123" or "client:bob" →
    CallerId(None, "invalid-number").
    """
    if value is None or is_withheld(value):
        return CallerId(None, "no-caller-id")
    try:
        return CallerId(to_e164(value, region), None)
    except PhoneNumberError:
        return CallerId(None, "invalid-number")


def line_type(e164: str) -> LineType:
    """What the numbering plan says about a number's line (see LineType).

    "+447911123456" → MOBILE; "+442079460000" → FIXED_LINE; "+14155550199" → EITHER.
    Raises PhoneNumberError when `e164` cannot be parsed.
    """
    kind = phonenumbers.number_type(_parse(e164, None))
    return _LINE_TYPES.get(kind, LineType.OTHER)


def region_of(e164: str) -> str | None:
    """The ISO 3166 region a number belongs to, or None if it has none or is not a number.

    "+48601234567" → "PL"; "+16135550123" → "CA"; "+447911123456" → "GG" (Guernsey
    shares +44 with the UK); "+80012345678" (international freephone) → None.
    """
    try:
        region = phonenumbers.region_code_for_number(_parse(e164, None))
    except PhoneNumberError:
        return None
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def accepts_alphanumeric_sender(e164: str) -> bool:
    """Whether a text to this number may come from an alphanumeric sender ID.

    False for all of +1 (US, Canada, Puerto Rico and the rest of the NANP), for the
    countries in _NO_ALPHANUMERIC_SENDER, and for a number with no country (such as
    +800 freephone) or no number at all; True otherwise. "+447911123456" → True;
    "+14155550199" → False.
    """
    region = region_of(e164)
    if region is None or phonenumbers.country_code_for_region(region) == _NANP_CALLING_CODE:
        return False
    return region not in _NO_ALPHANUMERIC_SENDER


def is_alphanumeric_sender(sender: str) -> bool:
    """Whether `sender` is a valid alphanumeric sender ID rather than a number.

    1 to 11 characters from letters, digits, space, "-", "+", "_" and "&", at least one
    a letter: "SalonBelle" → True; "+48601234567" → False; "Salon Belle Warsaw" → False.
    """
    return _ALPHANUMERIC_SENDER.fullmatch(sender) is not None


def mask(e164: str) -> str:
    """A number as it may appear in a log: enough to tell numbers apart, not to call one.

    Keeps the "+", the first four digits and the last two, but shows at most half the
    digits (rounded up) and hides at least one: "+48601234567" → "+4860*****67",
    "+2562533" → "+256***3". Anything else keeps its "scheme:" prefix and the first
    character of the rest: "client:bob" → "client:b**". A withheld-ID word names no one
    and is kept as it is: "Anonymous" → "Anonymous".
    """
    if is_withheld(e164) and not any(char.isdigit() for char in e164):
        return e164
    scheme, colon, rest = e164.rpartition(":")
    if colon:
        return f"{scheme}:{mask(rest)}" if rest else e164
    if _BARE_NUMBER.fullmatch(e164):
        plus = "+" if e164.startswith("+") else ""
        return plus + _mask_digits(e164.removeprefix("+"))
    return _mask_word(e164)


def _mask_digits(digits: str) -> str:
    """Star the middle of a digit run: "48601234567" → "4860*****67", "123" → "12*"."""
    shown = min(6, (len(digits) + 1) // 2, len(digits) - 1)
    tail = shown // 3
    head = shown - tail
    return digits[:head] + "*" * (len(digits) - shown) + digits[len(digits) - tail :]


def _mask_word(word: str) -> str:
    """Keep only the first character: "bob" → "b**", "x" → "*"."""
    if len(word) <= 1:
        return "*"
    return word[0] + "*" * (len(word) - 1)


def mask_text(text: str) -> str:
    """Mask every number inside a log message: "+" or "%2B" followed by 7 or more digits.

    "SMS to +48601234567 sent" → "SMS to +4860*****67 sent".
    """
    return _NUMBER_IN_TEXT.sub(lambda match: match[1] + _mask_digits(match[2]), text)
