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


#: bytes per second assumed for compressed formats when only the object size is known: 128 kbit/s. Call
#: recordings are often smaller (32-64 kbit/s), so the estimate errs short, i.e. towards an earlier first poll.
COMPRESSED_BYTES_PER_SECOND = 16_000


def duration_from_header(head: bytes, size: int | None) -> float | None:
    """Seconds of audio from a WAV (byte rate + data size) or FLAC (STREAMINFO samples) header; None if unknown."""
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return _wav_duration(head, size)
    if head[:4] == b"fLaC":
        return _flac_duration(head)
    return None


def estimate_duration(head: bytes, size: int | None) -> tuple[float | None, str]:
    """(seconds, how): the header when it says, else the object size at COMPRESSED_BYTES_PER_SECOND."""
    seconds = duration_from_header(head, size)
    if seconds is not None:
        return seconds, "header"
    if size:
        return size / COMPRESSED_BYTES_PER_SECOND, "size"
    return None, "unknown"


def _wav_duration(head: bytes, size: int | None) -> float | None:
    offset, byte_rate = 12, None
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (chunk_size,) = struct.unpack_from("<I", head, offset + 4)
        if chunk_id == b"fmt " and offset + 20 <= len(head):
            (byte_rate,) = struct.unpack_from("<I", head, offset + 8 + 8)  # after format, channels, rate
        elif chunk_id == b"data":
            if not byte_rate:
                return None
            data_size = chunk_size
            if size is not None and (chunk_size in (0, 0xFFFFFFFF) or offset + 8 + chunk_size > size):
                data_size = max(0, size - offset - 8)  # streamed/RF64 headers: trust the object size
            return data_size / byte_rate
        offset += 8 + chunk_size + (chunk_size & 1)
    return None


def _flac_duration(head: bytes) -> float | None:
    if len(head) < 8 + 18 or head[4] & 0x7F != 0:
        return None
    info = head[8:]
    sample_rate = (info[10] << 12) | (info[11] << 4) | (info[12] >> 4)
    total_samples = ((info[13] & 0x0F) << 32) | int.from_bytes(info[14:18], "big")
    if not sample_rate or not total_samples:
        return None
    return total_samples / sample_rate
