"""Uploaded objects: S3 key decoding, which keys are recordings, and the deterministic call id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote_plus

#: the file types start_call accepts, in any case (`.WAV`, `.Mp3`). infra/names.py AUDIO_SUFFIXES is the same list
#: (the stack output callctl checks uploads against); tests/infra/test_infra_trigger_suffixes.py ties the two.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".mp3", ".m4a", ".mp4", ".flac", ".ogg", ".oga", ".opus", ".webm", ".aac", ".amr", ".wma",
     ".aiff", ".aif", ".mov", ".mkv", ".3gp", ".gsm", ".au", ".caf"}
)


def decode_key(raw_key: str) -> str:
    """S3 event keys are URL-encoded with `+` for spaces (a literal `+` arrives as %2B)."""
    return unquote_plus(raw_key)


def call_id_for(bucket: str, key: str, version_id: str | None, etag: str | None) -> str:
    """sha256(bucket/key/versionId or etag)[:20], prefixed `c-` (also the Step Functions execution name)."""
    marker = version_id or (etag or "").strip('"') or "-"
    return "c-" + hashlib.sha256(f"{bucket}/{key}/{marker}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class UploadedObject:
    bucket: str
    key: str  # decoded
    version_id: str | None
    etag: str | None
    size: int | None
    event_name: str = "ObjectCreated:Put"
    #: the call id the uploader chose (metadata `call-id`: an edge client's live call, logic/live_insights.py)
    external_call_id: str | None = None

    @property
    def call_id(self) -> str:
        return self.external_call_id or call_id_for(self.bucket, self.key, self.version_id, self.etag)


def skip_reason(obj: UploadedObject, *, recordings_bucket: str, ignored_prefixes: tuple[str, ...]) -> str | None:
    """Why this event is not about an upload at all (nothing is recorded), or None when it is one. An upload that
    cannot be a recording (unsupported type, empty) is not skipped: start_call records it FAILED with
    `refusal_reason` and announces it, so no upload under the prefix goes unanswered."""
    if not obj.event_name.startswith("ObjectCreated"):
        return f"event {obj.event_name} is not an upload"
    if obj.bucket != recordings_bucket:
        return f"bucket {obj.bucket} is not the recordings bucket"
    if not obj.key or obj.key.endswith("/"):
        return "folder marker"
    if any(p and obj.key.startswith(p) for p in ignored_prefixes):
        return "results/profiles object, not a recording"
    return None


def is_supported_suffix(key: str) -> bool:
    """A file type start_call accepts, whatever the case of its extension."""
    return PurePosixPath(key).suffix.lower() in AUDIO_EXTENSIONS


def refusal_reason(key: str, size: int | None) -> str | None:
    """Why this upload can never be transcribed (recorded as InvalidRecording), or None."""
    suffix = PurePosixPath(key).suffix
    if not is_supported_suffix(key):
        return (f"unsupported file type {repr(suffix) if suffix else '(no extension)'}: not an audio/video recording "
                f"(accepted, any case: {' '.join(sorted(AUDIO_EXTENSIONS))})")
    if size == 0:
        return "the recording is empty (0 bytes): nothing to transcribe"
    return None


def uploaded_objects(event: Any) -> list[UploadedObject]:
    """The objects of an S3 event notification (a dict or Powertools' S3Event), keys decoded. start_call and the
    dead-letter consumer both read S3 events through this, so they derive the same call ids."""
    from aws_lambda_powertools.utilities.data_classes import S3Event

    if not isinstance(event, S3Event):
        event = S3Event(event)
    objects = []
    for record in event.records:
        obj = record.s3.get_object
        objects.append(UploadedObject(
            bucket=record.s3.bucket.name,
            key=decode_key(obj.key),
            version_id=obj.version_id,
            etag=obj.etag or None,
            size=int(obj["size"]) if obj.get("size") is not None else None,
            event_name=record.event_name,
        ))
    return objects
