"""The call's recording on disk: the WAV (written as captured, valid after any crash), its JSON sidecar
(call id, agent, session ids, upload URI), the upload to S3 at the end of the call, and the retention
clean-up of uploaded recordings at start."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .audio import WavRecorder
from .turns import utc_iso

log = logging.getLogger(__name__)


class CallRecording:
    def __init__(self, record_dir: str | Path, call_id: str, *, agent_id: str, profile: str, sample_rate: int,
                 started_at: float):
        self.call_id = call_id
        self.agent_id = agent_id
        self.profile = profile
        self.sample_rate = sample_rate
        self.started_at = started_at
        self.path = Path(record_dir) / f"{call_id}.wav"
        self.recorder: WavRecorder | None = None
        self._disk_error_logged = False

    @property
    def sidecar_path(self) -> Path:
        return self.path.with_suffix(".json")

    def open(self) -> None:
        self.recorder = WavRecorder(self.path, self.sample_rate)

    def write(self, frame: bytes) -> None:
        """Never raises for a disk problem (e.g. disk full): streaming goes on, said once in the log."""
        try:
            self.recorder.write(frame)
        except OSError as exc:
            if not self._disk_error_logged:
                log.error("cannot write the recording %s: %s (streaming continues)", self.path, exc)
                self._disk_error_logged = True

    def close(self) -> None:
        if self.recorder:
            self.recorder.close()

    def write_sidecar(self, session_ids: list[str], frames_captured: int, ended: bool = False,
                      upload_uri: str | None = None) -> None:
        meta = {"call_id": self.call_id, "agent_id": self.agent_id, "profile": self.profile,
                "started_at": utc_iso(self.started_at), "ended_at": utc_iso() if ended else None,
                "session_ids": session_ids, "sample_rate": self.sample_rate,
                "frames_captured": frames_captured, "recording": self.path.name, "uploaded": upload_uri}
        try:
            self.sidecar_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.sidecar_path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta, indent=2))
            tmp.replace(self.sidecar_path)
        except OSError as exc:
            log.error("cannot write %s: %s", self.sidecar_path, exc)

    def upload_key(self, prefix: str) -> str:
        day = datetime.fromtimestamp(self.started_at, UTC)
        return f"{prefix}{self.agent_id}/{day:%Y/%m/%d}/{self.call_id}.wav"

    def upload(self, bucket: str, prefix: str, session_ids: list[str], s3_client_factory: Callable[[], object]
               ) -> tuple[str | None, str | None]:
        """(s3 URI, None) or (None, error message); a failed upload keeps the file."""
        key = self.upload_key(prefix)
        meta = {"call-id": self.call_id, "agent-id": self.agent_id, "profile": self.profile,
                "started-at": utc_iso(self.started_at), "session-ids": ",".join(session_ids),
                "source": "edge-client"}
        meta = {k: v.encode("ascii", "replace").decode() for k, v in meta.items()}  # S3 metadata is ASCII
        try:
            s3_client_factory().upload_file(str(self.path), bucket, key,
                                            ExtraArgs={"Metadata": meta, "ContentType": "audio/wav"})
        except Exception as exc:  # noqa: BLE001
            err = (f"recording upload to s3://{bucket}/{key} failed ({type(exc).__name__}: {exc}); "
                   f"the recording is kept at {self.path}")
            log.error(err)
            return None, err
        uri = f"s3://{bucket}/{key}"
        log.info("recording uploaded to %s", uri)
        return uri, None


def s3_client(region: str | None):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", region_name=region, config=Config(
        connect_timeout=5, read_timeout=30, retries={"mode": "standard", "total_max_attempts": 4}))


def purge_old_recordings(record_dir: Path, retention_days: int, now: float | None = None) -> int:
    """Deletes uploaded recordings (sidecar says where) older than `retention_days`. Never deletes a
    recording that was not uploaded."""
    if retention_days <= 0 or not record_dir.is_dir():
        return 0
    cutoff = (now or time.time()) - retention_days * 86400
    removed = 0
    for meta_path in record_dir.glob("*.json"):
        try:
            meta = json.loads(meta_path.read_text())
            wav = record_dir / meta.get("recording", "")
            if meta.get("uploaded") and meta_path.stat().st_mtime < cutoff:
                if wav.is_file() and wav.suffix == ".wav":
                    wav.unlink()
                meta_path.unlink()
                removed += 1
        except (OSError, ValueError):
            continue
    return removed
