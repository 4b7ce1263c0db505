from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.sms.segments import Culprit, Measure, measure

# The GSM 03.38 default alphabet, one septet each (reference §5.1), without the escape.
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table, two septets each (escape + code).
EXTENSION = "^{}\\[~]|€\f"

COPY = (
    "Sorry, we missed your call at Salon Belle! We're with a client and can't pick up. "
    "Book at salonbelle.pl/book or reply and we will call you back."
)
CURLY_COPY = COPY.replace("'", "\u2019")


def test_alphabets_are_complete() -> None:
    assert len(BASIC) == len(set(BASIC)) == 127
    assert len(EXTENSION) == 10


def test_plain_copy_is_one_gsm7_segment() -> None:
    assert len(COPY) == 144 and COPY.count("'") == 2

    assert measure(COPY) == Measure("GSM-7", 144, 1, ())


def test_two_curly_apostrophes_make_three_ucs2_segments() -> None:
    # 144 UTF-16 units at 67 a segment.
    assert measure(CURLY_COPY) == Measure(
        "UCS-2",
        144,
        3,
        (Culprit("\u2019", COPY.index("'"), "'", "RIGHT SINGLE QUOTATION MARK"),),
    )


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "segments"),
    [
        pytest.param("", "GSM-7", 0, 1, id="empty text is still one message"),
        pytest.param("a" * 160, "GSM-7", 160, 1, id="160 basic characters fill one"),
        pytest.param("a" * 161, "GSM-7", 161, 2, id="161 basic characters split"),
        pytest.param("a" * 306, "GSM-7", 306, 2, id="two full 153-septet segments"),
        pytest.param("a" * 307, "GSM-7", 307, 3, id="one septet into a third"),
        pytest.param("]" * 80, "GSM-7", 160, 1, id="80 brackets are 160 septets"),
        pytest.param("]" * 81, "GSM-7", 162, 2, id="81 brackets split"),
        pytest.param("]" * 153, "GSM-7", 306, 3, id="153 brackets need three, 76 a segment"),
        pytest.param("|" * 70, "GSM-7", 140, 1, id="70 pipes stay GSM-7"),
        pytest.param("€", "GSM-7", 2, 1, id="euro takes two septets"),
        pytest.param("\f", "GSM-7", 2, 1, id="form feed is an extension character"),
        pytest.param("é", "GSM-7", 1, 1, id="e acute is in the alphabet"),
        pytest.param("Ç", "GSM-7", 1, 1, id="capital C cedilla is in the alphabet"),
        pytest.param("ç", "UCS-2", 1, 1, id="small c cedilla is not"),
        pytest.param("`", "UCS-2", 1, 1, id="backtick is not"),
        pytest.param("\x1b", "UCS-2", 1, 1, id="a lone escape is not a character"),
        pytest.param("😀", "UCS-2", 2, 1, id="emoji is a surrogate pair"),
        pytest.param("ç" * 70, "UCS-2", 70, 1, id="70 units fill one"),
        pytest.param("ç" * 71, "UCS-2", 71, 2, id="71 units split"),
        pytest.param("😀" * 35, "UCS-2", 70, 1, id="35 emoji fill one"),
        pytest.param("😀" * 36, "UCS-2", 72, 2, id="36 emoji split"),
        pytest.param("😀" * 67, "UCS-2", 134, 3, id="67 emoji need three, 33 a segment"),
    ],
)
def test_measure(text: str, encoding: str, characters: int, segments: int) -> None:
    result = measure(text)

    assert (result.encoding, result.characters, result.segments) == (
        encoding,
        characters,
        segments,
    )


def test_extension_character_moves_whole_to_the_next_segment() -> None:
    # 152 + 2 + 152 = 306 septets would fit two segments if "€" could be cut; it cannot,
    # so segment 1 ends after 152, segment 2 holds "€" and 151, segment 3 the last "a".
    text = "a" * 152 + "€" + "a" * 152

    assert measure(text).segments == 3


def test_surrogate_pair_moves_whole_to_the_next_segment() -> None:
    # 66 + 68 = 134 units would fit two segments of 67 if an emoji could be cut; it
    # cannot, so segment 1 holds the 66 letters, segment 2 holds 33 emoji, segment 3 one.
    text = "ç" * 66 + "😀" * 34

    assert measure(text).segments == 3


@pytest.mark.parametrize(
    ("char", "suggestion", "name"),
    [
        pytest.param("\u2019", "'", "RIGHT SINGLE QUOTATION MARK", id="right single quote"),
        pytest.param("\u2018", "'", "LEFT SINGLE QUOTATION MARK", id="left single quote"),
        pytest.param("\u201c", '"', "LEFT DOUBLE QUOTATION MARK", id="left double quote"),
        pytest.param("\u201d", '"', "RIGHT DOUBLE QUOTATION MARK", id="right double quote"),
        pytest.param("«", '"', "LEFT-POINTING DOUBLE ANGLE QUOTATION MARK", id="guillemet"),
        pytest.param("`", "'", "GRAVE ACCENT", id="backtick"),
        pytest.param("\u201a", ",", "SINGLE LOW-9 QUOTATION MARK", id="low single quote"),
        pytest.param("\u2013", "-", "EN DASH", id="en dash"),
        pytest.param("\u2014", "-", "EM DASH", id="em dash"),
        pytest.param("\u2022", "-", "BULLET", id="bullet"),
        pytest.param("\u2026", "...", "HORIZONTAL ELLIPSIS", id="ellipsis"),
        pytest.param("½", "1/2", "VULGAR FRACTION ONE HALF", id="fraction"),
        pytest.param("\u00a0", " ", "NO-BREAK SPACE", id="no-break space"),
        pytest.param("\u202f", " ", "NARROW NO-BREAK SPACE", id="narrow no-break space"),
        pytest.param("\u2009", " ", "THIN SPACE", id="thin space"),
        pytest.param("\t", " ", "U+0009", id="tab has no Unicode name"),
        pytest.param("\u200b", "", "ZERO WIDTH SPACE", id="zero-width space is removed"),
        pytest.param("\ufeff", "", "ZERO WIDTH NO-BREAK SPACE", id="byte order mark"),
        pytest.param("Ａ", "A", "FULLWIDTH LATIN CAPITAL LETTER A", id="full-width letter"),
        pytest.param("！", "!", "FULLWIDTH EXCLAMATION MARK", id="full-width punctuation"),
        pytest.param("ᴀ", "A", "LATIN LETTER SMALL CAPITAL A", id="small capital"),
        pytest.param("ç", None, "LATIN SMALL LETTER C WITH CEDILLA", id="c cedilla has none"),
        pytest.param("😀", None, "GRINNING FACE", id="emoji has none"),
    ],
)
def test_culprit_names_the_character_and_its_replacement(
    char: str, suggestion: str | None, name: str
) -> None:
    result = measure(f"Hi {char}!")

    assert result.ucs2_culprits == (Culprit(char, 3, suggestion, name),)


def test_culprits_are_distinct_and_in_order_of_appearance() -> None:
    result = measure("it\u2019s \u2018ok\u2019 \u2019")

    assert result.ucs2_culprits == (
        Culprit("\u2019", 2, "'", "RIGHT SINGLE QUOTATION MARK"),
        Culprit("\u2018", 5, "'", "LEFT SINGLE QUOTATION MARK"),
    )


def test_every_suggestion_is_gsm7() -> None:
    for code_point in range(0x10000):
        char = chr(code_point)
        if 0xD800 <= code_point <= 0xDFFF or measure(char).encoding == "GSM-7":
            continue
        (culprit,) = measure(char).ucs2_culprits
        if culprit.suggestion is not None:
            assert measure(culprit.suggestion).encoding == "GSM-7", repr(char)


MIXED = st.text(alphabet=st.sampled_from(BASIC + EXTENSION + "ç’😀") | st.characters())


@given(text=MIXED, char=st.sampled_from(BASIC + EXTENSION + "ç’😀") | st.characters())
def test_appending_never_lowers_the_segment_count(text: str, char: str) -> None:
    assert measure(text + char).segments >= measure(text).segments


@given(text=st.text(alphabet=st.sampled_from(BASIC), max_size=1000))
def test_basic_gsm7_text_splits_every_153(text: str) -> None:
    n = len(text)
    expected = 1 if n <= 160 else math.ceil(n / 153)

    assert measure(text) == Measure("GSM-7", n, expected, ())


@given(text=st.text(alphabet=st.sampled_from(EXTENSION), max_size=400))
def test_extension_only_text_splits_every_76(text: str) -> None:
    n = len(text)
    expected = 1 if 2 * n <= 160 else math.ceil(n / 76)

    assert measure(text) == Measure("GSM-7", 2 * n, expected, ())
