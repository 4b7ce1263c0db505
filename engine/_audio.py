"""How long a greeting plays: the simulator times `<Play>` by the audio's real length.

Twilio plays the media types of the TwiML reference (§1.2): MP3, WAV, AIFF, GSM and
μ-law. Each is measured from its own headers, without decoding a sample:

- WAV: the `data` chunk's size over the `fmt ` chunk's bytes per second;
- AIFF: the `COMM` chunk's sample frames over its sample rate (an 80-bit float);
- MP3: every frame header walked (so variable bit rates count right), ID3 tags skipped;
- raw GSM 06.10 (33 bytes per 20 ms) and μ-law (8000 bytes a second).

`audio_seconds(b"RIFF…")` → `4.9385`; audio it cannot read raises `AudioError`.
"""

from __future__ import annotations

import struct

__all__ = ["AudioError", "audio_seconds"]


class AudioError(ValueError):
    """Audio whose length cannot be read from its headers."""


def audio_seconds(data: bytes, name: str = "") -> float:
    """The playing time of `data`, in seconds; `name` (its file name) helps raw formats."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav(data)
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return _aiff(data)
    lowered = name.lower()
    if lowered.endswith(".gsm"):
        return len(data) // 33 * 0.02
    if lowered.endswith((".ulaw", ".ul", ".mulaw")):
        return len(data) / 8000
    return _mp3(data)


def _chunks(data: bytes, start: int) -> dict[bytes, bytes]:
    """The chunks of a RIFF (little-endian) or IFF (big-endian) file, by id."""
    order = "<" if data[:4] == b"RIFF" else ">"
    found: dict[bytes, bytes] = {}
    offset = start
    while offset + 8 <= len(data):
        kind = data[offset : offset + 4]
        (size,) = struct.unpack(order + "I", data[offset + 4 : offset + 8])
        found.setdefault(kind, data[offset + 8 : offset + 8 + size])
        offset += 8 + size + (size & 1)
    return found


def _wav(data: bytes) -> float:
    chunks = _chunks(data, 12)
    fmt, samples = chunks.get(b"fmt "), chunks.get(b"data")
    if fmt is None or samples is None or len(fmt) < 12:
        raise AudioError("a WAV file without its fmt and data chunks")
    (byte_rate,) = struct.unpack("<I", fmt[8:12])
    if byte_rate == 0:
        raise AudioError("a WAV file with a byte rate of 0")
    return len(samples) / int(byte_rate)


def _aiff(data: bytes) -> float:
    common = _chunks(data, 12).get(b"COMM")
    if common is None or len(common) < 18:
        raise AudioError("an AIFF file without its COMM chunk")
    (frames,) = struct.unpack(">I", common[2:6])
    exponent, mantissa = struct.unpack(">HQ", common[8:18])
    rate: float = float(mantissa) * 2.0 ** ((exponent & 0x7FFF) - 16383 - 63)
    if rate <= 0:
        raise AudioError("an AIFF file with a sample rate of 0")
    return int(frames) / rate


# MPEG audio frame headers: bit rates (kbit/s) by (version 1?, layer), sample rates by version.
_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3(data: bytes) -> float:
    offset = _skip_id3(data)
    seconds, frames = 0.0, 0
    while offset + 4 <= len(data):
        frame = _frame(data[offset : offset + 4])
        if frame is None:
            offset += 1  # junk between frames: look for the next sync word
            continue
        length, duration = frame
        seconds += duration
        frames += 1
        offset += length
    if frames == 0:
        raise AudioError("not audio Twilio plays (no MP3 frame, nor a WAV or AIFF header)")
    return seconds


def _skip_id3(data: bytes) -> int:
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = 0
    for byte in data[6:10]:
        size = size << 7 | (byte & 0x7F)
    return 10 + size + (10 if data[5] & 0x10 else 0)


def _frame(header: bytes) -> tuple[int, float] | None:
    """One MPEG audio frame header: its length in bytes and its playing time."""
    b1, b2 = header[1], header[2]
    if header[0] != 0xFF or b1 & 0xE0 != 0xE0:
        return None
    version, layer = (b1 >> 3) & 3, 4 - ((b1 >> 1) & 3)
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _BITRATES[(version == 3, layer)][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4, 384 / rate
    samples = 1152 if layer == 2 or version == 3 else 576
    return samples // 8 * bitrate // rate + padding, samples / rate
