from __future__ import annotations

import json

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.phone import (
    CallerId,
    LineType,
    PhoneNumberError,
    accepts_alphanumeric_sender,
    is_alphanumeric_sender,
    is_withheld,
    line_type,
    mask,
    mask_text,
    read_caller,
    region_of,
    to_e164,
)

KEYPAD = {"2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO", "7": "PQRS",
          "8": "TUV", "9": "WXYZ"}  # fmt: skip


def spell(word: str) -> str:
    """Type a word on a phone keypad: "BLOCKED" → "2562533"."""
    return "".join(key for letter in word for key, letters in KEYPAD.items() if letter in letters)


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        pytest.param("+44 (0)7911 123456", None, "+447911123456", id="trunk zero in brackets"),
        pytest.param("07911 123456", "GB", "+447911123456", id="national form with region"),
        pytest.param("+4407911123456", None, "+447911123456", id="trunk zero after +44"),
        pytest.param("+44 7911 123456", "PL", "+447911123456", id="plus ignores the region"),
        pytest.param("601 234 567", "pl", "+48601234567", id="region in lower case"),
        pytest.param("0048 601 234 567", "GB", "+48601234567", id="dialled from abroad"),
        pytest.param("+39 06 1234 5678", None, "+390612345678", id="Italy keeps its zero"),
        pytest.param(" +48601234567 ", None, "+48601234567", id="surrounding spaces"),
    ],
)
def test_to_e164(text: str, region: str | None, expected: str) -> None:
    assert to_e164(text, region) == expected


@pytest.mark.parametrize(
    ("text", "region", "message"),
    [
        pytest.param(
            "601 23", "PL", '"601 23" is not a valid phone number for region PL', id="too few"
        ),
        pytest.param(
            "+4860123",
            None,
            '"+4860123" is not a valid phone number for country code +48',
            id="too few after a country code",
        ),
        pytest.param(
            "601 234 567",
            None,
            '"601 234 567" has no country code: write it as +<country code><number>, '
            "e.g. +48601234567, or set `region`",
            id="no region and no plus",
        ),
        pytest.param(
            "601 234 567",
            "Poland",
            'region "Poland" is not an ISO 3166 region code; expected e.g. "GB" or "PL"',
            id="region is not a code",
        ),
        pytest.param(
            "call me",
            "PL",
            '"call me" is not a phone number; expected digits, e.g. +48601234567',
            id="words",
        ),
        pytest.param(
            "+999 123 456",
            None,
            '"+999 123 456" does not start with a known country code; expected e.g. +48601234567',
            id="unknown country code",
        ),
        pytest.param(
            "+1 415 555 0199 ext. 12",
            None,
            '"+1 415 555 0199 ext. 12" has an extension (12); a text cannot reach one',
            id="extension",
        ),
    ],
)
def test_to_e164_refuses(text: str, region: str | None, message: str) -> None:
    with pytest.raises(PhoneNumberError) as caught:
        to_e164(text, region)

    assert str(caught.value) == message


def test_phone_number_error_is_a_value_error() -> None:
    assert issubclass(PhoneNumberError, ValueError)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("  ", id="blank"),
        pytest.param("anonymous", id="anonymous"),
        pytest.param("Anonymous", id="Anonymous"),
        pytest.param("RESTRICTED", id="restricted"),
        pytest.param("Unavailable", id="unavailable"),
        pytest.param("unknown", id="unknown"),
        pytest.param("Private", id="private"),
        pytest.param("blocked", id="blocked"),
        pytest.param("Withheld", id="withheld"),
        pytest.param("Not Available", id="two words"),
        pytest.param(" not  available ", id="two words, odd spacing"),
        pytest.param("+266696687", id="ANONYMOUS on the keypad"),
        pytest.param("266696687", id="ANONYMOUS on the keypad without plus"),
        pytest.param("+7378742833", id="RESTRICTED on the keypad"),
        pytest.param("+86282452253", id="UNAVAILABLE on the keypad"),
        pytest.param("+2562533", id="BLOCKED on the keypad"),
    ],
)
def test_is_withheld(value: str | None) -> None:
    assert is_withheld(value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("+48601234567", id="a number"),
        pytest.param("+4860123", id="an invalid number"),
        pytest.param("client:bob", id="a Twilio client"),
        pytest.param("anonymously", id="a longer word"),
        pytest.param("+2662696687", id="a keypad spelling with an extra digit"),
    ],
)
def test_is_not_withheld(value: str) -> None:
    assert not is_withheld(value)


@pytest.mark.parametrize(
    ("word", "digits"),
    [
        pytest.param("ANONYMOUS", "266696687", id="ANONYMOUS"),
        pytest.param("RESTRICTED", "7378742833", id="RESTRICTED"),
        pytest.param("UNAVAILABLE", "86282452253", id="UNAVAILABLE"),
        pytest.param("BLOCKED", "2562533", id="BLOCKED"),
        pytest.param("PRIVATE", "7748283", id="PRIVATE"),
        pytest.param("UNKNOWN", "8656696", id="UNKNOWN"),
        pytest.param("WITHHELD", "94844353", id="WITHHELD"),
    ],
)
def test_keypad_stand_ins_spell_their_word(word: str, digits: str) -> None:
    assert spell(word) == digits
    assert is_withheld("+" + digits) and is_withheld(digits)
    # A stand-in that were a real number would silence a real caller.
    assert not phonenumbers.is_valid_number(phonenumbers.parse("+" + digits))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("+48601234567", CallerId("+48601234567", None), id="E.164"),
        pytest.param("601 234 567", CallerId("+48601234567", None), id="national, region PL"),
        pytest.param(None, CallerId(None, "no-caller-id"), id="missing"),
        pytest.param("Anonymous", CallerId(None, "no-caller-id"), id="word"),
        pytest.param("+266696687", CallerId(None, "no-caller-id"), id="keypad stand-in"),
        pytest.param("+4860123", CallerId(None, "invalid-number"), id="invalid"),
        pytest.param("client:bob", CallerId(None, "invalid-number"), id="Twilio client"),
        pytest.param("+999123456", CallerId(None, "invalid-number"), id="no such country"),
    ],
)
def test_read_caller(value: str | None, expected: CallerId) -> None:
    assert read_caller(value, "PL") == expected


def test_read_caller_without_region_needs_a_plus() -> None:
    assert read_caller("601 234 567", None) == CallerId(None, "invalid-number")


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        pytest.param("+14155550199", LineType.EITHER, id="US geographic"),
        pytest.param("+442079460000", LineType.FIXED_LINE, id="London"),
        pytest.param("+447911123456", LineType.MOBILE, id="UK mobile"),
        pytest.param("+61491570156", LineType.MOBILE, id="Australian mobile"),
        pytest.param("+48601234567", LineType.MOBILE, id="Polish mobile"),
        pytest.param("+445612345678", LineType.EITHER, id="UK VoIP"),
        pytest.param("+447012345678", LineType.EITHER, id="UK personal number"),
        pytest.param("+18005550199", LineType.OTHER, id="US toll-free"),
        pytest.param("+4860123", LineType.OTHER, id="invalid"),
    ],
)
def test_line_type(e164: str, expected: LineType) -> None:
    assert line_type(e164) is expected


def test_line_type_values_are_strings() -> None:
    assert [kind.value for kind in LineType] == ["mobile", "fixed-line", "either", "other"]
    assert f"{LineType.FIXED_LINE}" == "fixed-line"
    assert json.dumps(LineType.MOBILE) == '"mobile"'


def test_line_type_of_text_that_is_not_a_number() -> None:
    with pytest.raises(PhoneNumberError):
        line_type("Anonymous")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("+48601234567", "+4860*****67", id="the spec's example"),
        pytest.param("+447911123456", "+4479******56", id="twelve digits"),
        pytest.param("+2562533", "+256***3", id="seven digits show four"),
        pytest.param("+1", "+*", id="one digit"),
        pytest.param("48601234567", "4860*****67", id="no plus"),
        pytest.param("whatsapp:+48601234567", "whatsapp:+4860*****67", id="channel address"),
        pytest.param("client:bob", "client:b**", id="Twilio client"),
        pytest.param("bob", "b**", id="a word"),
        pytest.param("x", "*", id="one letter"),
        pytest.param("Anonymous", "Anonymous", id="withheld word names no one"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask(value: str, expected: str) -> None:
    assert mask(value) == expected


@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_mask_never_shows_a_whole_number(digits: str) -> None:
    masked = mask("+" + digits)

    assert "*" in masked
    assert sum(char.isdigit() for char in masked) <= min(6, (len(digits) + 1) // 2)


def test_mask_text() -> None:
    text = (
        "call CA0123456789abcdef from +48601234567 to +442079460000 "
        "(form https://example.com/f?phone=%2B48601234567)"
    )

    assert mask_text(text) == (
        "call CA0123456789abcdef from +4860*****67 to +4420******00 "
        "(form https://example.com/f?phone=%2B4860*****67)"
    )


def test_mask_text_leaves_short_numbers_and_masked_text_alone() -> None:
    text = "dial timeout 15, retry +123456, caller +4860*****67"

    assert mask_text(text) == text


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        pytest.param("+48601234567", "PL", id="Poland"),
        pytest.param("+442079460000", "GB", id="London"),
        pytest.param("+447911123456", "GG", id="+44 7911 is Guernsey"),
        pytest.param("+16135550123", "CA", id="Ottawa shares +1"),
        pytest.param("+14155550199", "US", id="San Francisco"),
        pytest.param("+80012345678", None, id="international freephone"),
        pytest.param("Anonymous", None, id="not a number"),
    ],
)
def test_region_of(e164: str, expected: str | None) -> None:
    assert region_of(e164) == expected


@pytest.mark.parametrize(
    ("e164", "expected"),
    [
        pytest.param("+447911123456", True, id="UK mobile"),
        pytest.param("+442079460000", True, id="GB"),
        pytest.param("+48601234567", True, id="PL"),
        pytest.param("+61491570156", True, id="AU"),
        pytest.param("+4915123456789", True, id="DE"),
        pytest.param("+33612345678", True, id="FR"),
        pytest.param("+14155550199", False, id="US"),
        pytest.param("+16135550123", False, id="CA"),
        pytest.param("+17875550123", False, id="PR"),
        pytest.param("+18765550123", False, id="JM, elsewhere in +1"),
        pytest.param("+5511987654321", False, id="BR"),
        pytest.param("+64211234567", False, id="NZ"),
        pytest.param("+80012345678", False, id="no country"),
        pytest.param("Anonymous", False, id="not a number"),
    ],
)
def test_accepts_alphanumeric_sender(e164: str, expected: bool) -> None:
    assert accepts_alphanumeric_sender(e164) is expected


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        pytest.param("SalonBelle", True, id="a name"),
        pytest.param("Salon Belle", True, id="eleven with a space"),
        pytest.param("A", True, id="one letter"),
        pytest.param("Cafe 24", True, id="letters and digits"),
        pytest.param("B&B-Rooms_+", True, id="every allowed symbol"),
        pytest.param("Salon Belle!", False, id="exclamation mark"),
        pytest.param("SalonBelleWaw", False, id="thirteen characters"),
        pytest.param("", False, id="empty"),
        pytest.param("12345", False, id="digits only"),
        pytest.param("+48601234567", False, id="a number"),
        pytest.param("Zażółć", False, id="letters outside ASCII"),
        pytest.param("Salon\n", False, id="trailing newline"),
    ],
)
def test_is_alphanumeric_sender(sender: str, expected: bool) -> None:
    assert is_alphanumeric_sender(sender) is expected
