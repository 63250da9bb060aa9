"""Channel count from the first bytes of a recording (a ranged GET, no download): WAV/RF64 and FLAC.
Other containers return None (then the profile's speaker_labels is used)."""

from __future__ import annotations

import struct

HEADER_BYTES = 64 * 1024


def channels_from_header(head: bytes) -> int | None:
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return _wav_channels(head)
    if head[:4] == b"fLaC":
        return _flac_channels(head)
    return None


def _wav_channels(head: bytes) -> int | None:
    offset = 12
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack_from("<I", head, offset + 4)
        if chunk_id == b"fmt " and offset + 8 + 4 <= len(head):
            (channels,) = struct.unpack_from("<H", head, offset + 8 + 2)
            return channels or None
        offset += 8 + size + (size & 1)
    return None


def _flac_channels(head: bytes) -> int | None:
    # first metadata block must be STREAMINFO (type 0): 4-byte block header + 34 bytes
    if len(head) < 4 + 4 + 13 or head[4] & 0x7F != 0:
        return None
    streaminfo = head[8:]
    return ((streaminfo[12] >> 1) & 0x07) + 1


def channels_from_metadata(metadata: dict[str, str]) -> int | None:
    value = (metadata or {}).get("channels")
    try:
        channels = int(value) if value is not None else None
    except ValueError:
        return None
    return channels if channels and channels > 0 else None
