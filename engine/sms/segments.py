"""How a text is measured on the caller's phone.

An SMS travels in segments, and Twilio bills each one. A body is sent as GSM-7 when every
character is in the GSM 03.38 alphabet, otherwise the whole body switches to UCS-2 and
holds less than half as much per segment. One curly apostrophe pasted from a word
processor is enough to turn a one-segment text into a three-segment one, so `measure`
also names the characters that forced UCS-2 and the GSM-7 character that could replace
each (the replacements Twilio's smart encoding would make).

Limits, from 3GPP TS 23.038 and Twilio's segment calculator:

- GSM-7: 160 septets in a single message, 153 per segment once split. The extension
  characters ``^ { } \\ [ ~ ] | €`` and form feed take two septets (escape + code).
- UCS-2: 70 UTF-16 code units in a single message, 67 per segment once split. A
  character outside the Basic Multilingual Plane (most emoji) takes two units.
- A two-septet character or a surrogate pair is never cut between segments: it moves
  whole to the next one, so a segment may carry one place less than its limit.
"""

from __future__ import annotations

import functools
import importlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

# The package is imported only for its side effect, registering the "gsm03.38" codec;
# importing it by name keeps mypy from asking for the stubs it does not ship.
importlib.import_module("gsm0338")

__all__ = ["Culprit", "Encoding", "Measure", "measure"]

Encoding = Literal["GSM-7", "UCS-2"]


class _Limits(NamedTuple):
    single: int
    per_segment: int


_GSM7_LIMITS: Final = _Limits(single=160, per_segment=153)
_UCS2_LIMITS: Final = _Limits(single=70, per_segment=67)

# Unicode look-alikes and their GSM-7 stand-ins, after Twilio's smart encoding.
# Spaces, controls, full-width forms and small capitals are handled by rule in _suggest.
_LOOK_ALIKES: Final[dict[str, str]] = {
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033", '"'),  # “ ” „ ‟ « » ″
    **dict.fromkeys("\u2018\u2019\u201b\u00b4`\u02bc\u02bb\u2032", "'"),  # ‘ ’ ‛ ´ ` ʼ ʻ ′
    # hyphens, dashes, minus sign and bullet: ‐ ‑ ‒ – — ― ⁃ − •
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u2022", "-"),
    "\u201a": ",",
    "\u2039": "<",
    "\u203a": ">",
    "\u2026": "...",
    "\u203c": "!!",
    "\u00bc": "1/4",
    "\u00bd": "1/2",
    "\u00be": "3/4",
    "\u00f7": "/",
    "\t": " ",
    "\u2028": " ",
    "\u2029": " ",
}

# U+FF01..U+FF5E are full-width copies of "!".."~", this far above them.
_FULL_WIDTH_FIRST, _FULL_WIDTH_LAST, _FULL_WIDTH_OFFSET = 0xFF01, 0xFF5E, 0xFEE0
_SMALL_CAPITAL: Final = "LATIN LETTER SMALL CAPITAL "


@dataclass(frozen=True)
class Culprit:
    """A character that forces UCS-2, where it first appears, and what could replace it.

    `suggestion` is the GSM-7 text to write instead ("" means: delete it), or None when
    there is no look-alike (emoji, most accented letters such as "ç"). `index` counts
    Python characters (code points) from 0.
    """

    char: str
    index: int
    suggestion: str | None
    name: str


@dataclass(frozen=True)
class Measure:
    """A text's encoding, its length in that encoding's units, and its segment count.

    `characters` counts septets for GSM-7 and UTF-16 code units for UCS-2: the places
    the text takes on the phone, not Python's `len`.
    """

    encoding: Encoding
    characters: int
    segments: int
    ucs2_culprits: tuple[Culprit, ...]


def measure(text: str) -> Measure:
    """Measure `text` as the caller's phone will receive it.

    The empty text is one segment: sending it still sends one message.

    >>> measure("See you at 9:00 [Salon Belle]")
    Measure(encoding='GSM-7', characters=31, segments=1, ucs2_culprits=())
    >>> measure("It’s 9:00").segments, measure("It’s 9:00").ucs2_culprits[0].suggestion
    (1, "'")
    >>> measure("a" * 161).segments
    2
    """
    septets = _septet_sizes(text)
    if septets is not None:
        return Measure("GSM-7", sum(septets), _count_segments(septets, _GSM7_LIMITS), ())

    units = [_utf16_units(char) for char in text]
    segments = _count_segments(units, _UCS2_LIMITS)
    return Measure("UCS-2", sum(units), segments, _culprits(text))


def _septet_sizes(text: str) -> list[int] | None:
    """Septets taken by each character, or None if one has no GSM-7 form.

    "[a]" → [2, 1, 2]; "ça" → None.
    """
    sizes: list[int] = []
    for char in text:
        size = _septets(char)
        if size is None:
            return None
        sizes.append(size)
    return sizes


@functools.cache
def _septets(char: str) -> int | None:
    """Septets one character takes in GSM-7: "a" → 1, "€" → 2, "ç" → None."""
    # gsm0338 encodes U+001B as a bare escape septet; on the phone an escape starts an
    # extension character, so a literal ESC cannot be sent as itself.
    if char == "\x1b":
        return None
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def _utf16_units(char: str) -> int:
    """UTF-16 code units for one code point: "ç" → 1, "😀" → 2 (a surrogate pair)."""
    return 2 if ord(char) > 0xFFFF else 1


def _count_segments(sizes: Sequence[int], limits: _Limits) -> int:
    """Segments needed for characters of these sizes, never cutting one in two.

    [1] * 160 → 1; [1] * 161 → 2; [2] * 153 → 3 (76 two-septet characters fit in 153).
    """
    if sum(sizes) <= limits.single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > limits.per_segment:
            segments, used = segments + 1, 0
        used += size
    return segments


def _culprits(text: str) -> tuple[Culprit, ...]:
    """Each distinct non-GSM character at its first index, in order of appearance.

    "it’s ‘ok’" → (’ at 2, ‘ at 5).
    """
    first_index: dict[str, int] = {}
    for index, char in enumerate(text):
        if _septets(char) is None:
            first_index.setdefault(char, index)
    return tuple(
        Culprit(char, index, _suggest(char), _name(char)) for char, index in first_index.items()
    )


def _suggest(char: str) -> str | None:
    """The GSM-7 stand-in for a non-GSM character: "’" → "'", "Ａ" → "A", "ç" → None."""
    if char in _LOOK_ALIKES:
        return _LOOK_ALIKES[char]
    if _FULL_WIDTH_FIRST <= ord(char) <= _FULL_WIDTH_LAST:
        plain = chr(ord(char) - _FULL_WIDTH_OFFSET)
        return plain if _septets(plain) is not None else _LOOK_ALIKES.get(plain)
    name = unicodedata.name(char, "")
    if name.startswith(_SMALL_CAPITAL) and len(name) == len(_SMALL_CAPITAL) + 1:
        return name[-1]
    return _suggest_by_category(unicodedata.category(char))


def _suggest_by_category(category: str) -> str | None:
    """Any space separator becomes a space; controls and invisible formatting go."""
    if category == "Zs":
        return " "
    if category in ("Cc", "Cf"):
        return ""
    return None


def _name(char: str) -> str:
    """The Unicode name, or the code point for nameless characters: "\t" → "U+0009"."""
    return unicodedata.name(char, f"U+{ord(char):04X}")
