"""Transcript store (persisted JSON in data_dir) and the job runner (bounded worker pool + webhooks).

Lifecycle: queued -> processing -> completed | error. Jobs beyond `concurrency` wait in a FIFO
queue with `throttled: true`, like the real service. A restart re-queues unfinished jobs, so
nothing submitted is lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from . import rendering
from .audio import AudioError
from .config import ServerConfig
from .faults import FaultPlan
from .models import ModelUnavailable
from .stats import Stats
from .stt import SpeechEngine, TranscribeOptions
from .understanding import apply_understanding, sentence_sentiments

log = logging.getLogger("local_assemblyai.jobs")

UPLOAD_PATH = re.compile(r"/upload/([0-9a-f-]{36})$")
TERMINAL = ("completed", "error")

# Response defaults: echo fields of the Transcript object (contract §2.3).
_ECHO_DEFAULTS: dict[str, Any] = {
    "language_code": "en_us", "punctuate": True, "format_text": True, "disfluencies": False,
    "multichannel": False, "dual_channel": None, "speaker_labels": False, "speakers_expected": None,
    "webhook_url": None, "webhook_auth_header_name": None, "auto_highlights": False, "redact_pii": False,
    "content_safety": False, "iab_categories": False, "sentiment_analysis": False, "entity_detection": False,
    "auto_chapters": False, "summarization": False, "language_detection": False,
    "language_confidence_threshold": None, "speech_models": None, "keyterms_prompt": None, "prompt": None,
    "temperature": None, "filter_profanity": False, "speech_threshold": None, "audio_start_from": None,
    "audio_end_at": None, "custom_spelling": None, "domain": None,
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


class TranscriptStore:
    """In-memory index of transcript records, each persisted as data_dir/transcripts/<id>.json."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "transcripts"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.records: dict[str, dict[str, Any]] = {}
        for f in sorted(self.dir.glob("*.json")):
            try:
                rec = json.loads(f.read_text())
                self.records[rec["id"]] = rec
            except (json.JSONDecodeError, KeyError, OSError) as exc:
                log.warning("skipping unreadable transcript file %s: %s", f, exc)

    def save(self, record: dict[str, Any]) -> None:
        self.records[record["id"]] = record
        path = self.dir / f"{record['id']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path)

    def get(self, transcript_id: str) -> dict[str, Any] | None:
        return self.records.get(transcript_id)

    def ordered(self) -> list[dict[str, Any]]:
        """Newest first."""
        return sorted(self.records.values(), key=lambda r: (r["_created_ts"], r["id"]), reverse=True)


class TranscriptService:
    def __init__(self, config: Callable[[], ServerConfig], engine: SpeechEngine, stats: Stats, faults: FaultPlan,
                 uploads_dir: Path) -> None:
        self._config = config
        self.engine = engine
        self.stats = stats
        self.faults = faults
        self.uploads_dir = uploads_dir
        cfg = config()
        self.store = TranscriptStore(cfg.data_path)
        self.downloads_dir = cfg.data_path / "downloads"
        self.downloads_dir.mkdir(parents=True, exist_ok=True)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.running = 0
        self._workers: list[asyncio.Task] = []
        self._background: set[asyncio.Task] = set()
        self._http: aiohttp.ClientSession | None = None

    @property
    def cfg(self) -> ServerConfig:
        return self._config()

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()
        for rec in self.store.ordered()[::-1]:
            if rec["status"] not in TERMINAL:  # interrupted by a restart: run it again
                rec.update(status="queued", throttled=None)
                self.store.save(rec)
                self.queue.put_nowait(rec["id"])
        self._workers = [asyncio.create_task(self._worker(i)) for i in range(self.cfg.concurrency)]

    async def stop(self) -> None:
        for t in [*self._workers, *self._background]:
            t.cancel()
        await asyncio.gather(*self._workers, *self._background, return_exceptions=True)
        if self._http:
            await self._http.close()

    # -- API operations ------------------------------------------------------------------------
    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        tid = str(uuid.uuid4())
        rec: dict[str, Any] = {
            "id": tid, "status": "queued", "audio_url": params["audio_url"],
            "language_model": "assemblyai_default", "acoustic_model": "assemblyai_default",
            **_ECHO_DEFAULTS, **{k: v for k, v in params.items() if k in _ECHO_DEFAULTS},
            "speech_model": None,  # the SDK only accepts null or its legacy enum here
            "speech_model_used": None, "text": None, "words": None, "utterances": None, "confidence": None,
            "audio_duration": None, "audio_channels": None, "error": None, "webhook_status_code": None,
            "webhook_auth": bool(params.get("webhook_auth_header_name")), "language_confidence": None,
            "throttled": self.running >= self.cfg.concurrency or None,
            "auto_highlights_result": None, "content_safety_labels": {}, "iab_categories_result": {},
            "_params": params, "_created": _now(), "_created_ts": time.time(), "_completed": None,
        }
        self.store.save(rec)
        self.queue.put_nowait(tid)
        self.stats.incr("events", "transcripts_created")
        return rec

    def delete(self, rec: dict[str, Any]) -> dict[str, Any]:
        upload = self._local_upload(rec["audio_url"])
        if upload is not None:
            upload.unlink(missing_ok=True)  # uploaded files are deleted with their transcript
        rec.update(audio_url="http://deleted_by_user", webhook_url="http://deleted_by_user",
                   text="Deleted by user.", words=None, utterances=None, confidence=None, speech_model=None,
                   _words_raw=None, _deleted=True)
        self.store.save(rec)
        return rec

    # -- worker ----------------------------------------------------------------------------------
    async def _worker(self, index: int) -> None:
        while True:
            tid = await self.queue.get()
            rec = self.store.get(tid)
            if rec is None or rec["status"] in TERMINAL:
                continue
            self.running += 1
            try:
                await self._run(rec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never lose a job silently: record the failure on it
                log.exception("job %s failed", tid)
                await self._finish(rec, error=f"Internal server error while transcribing: {exc}")
            finally:
                self.running -= 1
            self._spawn(self._deliver_webhook(rec))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run(self, rec: dict[str, Any]) -> None:
        cfg = self.cfg
        wait = cfg.jobs.min_queued_seconds - (time.time() - rec["_created_ts"])
        if wait > 0:
            await asyncio.sleep(wait)
        rec.update(status="processing", throttled=None)
        self.store.save(rec)
        started = time.time()
        params = rec["_params"]
        for rule in self.faults.match("jobs", actions=("job_error",)):
            self.stats.incr("faults", "jobs:job_error")
            return await self._finish(rec, error=rule.message or "Internal server error, please try again later.",
                                started=started)
        try:
            path = await self._fetch_audio(rec["audio_url"], rec["id"])
        except _DownloadError as exc:
            return await self._finish(rec, error=str(exc), started=started)
        options = self._options(params)
        self.stats.incr("events", "transcriptions_started")
        try:
            result = await asyncio.get_running_loop().run_in_executor(
                None, self.engine.transcribe_file, path, options)
        except AudioError as exc:
            return await self._finish(rec, error=str(exc), started=started)
        except ModelUnavailable as exc:
            log.error("%s", exc)
            return await self._finish(rec, error=f"Speech model unavailable on this local server: {exc}",
                                      started=started)
        self.stats.incr("events", "stt_cache_hits" if result.cached else "stt_decodes")
        words = rendering.apply_text_options(result.words, params.get("punctuate", True) is not False,
                                             params.get("format_text", True) is not False)
        words = _clip(words, params.get("audio_start_from"), params.get("audio_end_at"))
        with_utterances = bool(params.get("speaker_labels") or params.get("multichannel"))
        if not with_utterances:
            words = [{**w, "speaker": None} for w in words]
        if not params.get("multichannel"):
            words = [{**w, "channel": None} for w in words]
        words, understanding = apply_understanding(words, params) if with_utterances else (words, None)
        rec.update(rendering.transcript_fields(words, with_utterances))
        if understanding is not None:
            rec["speech_understanding"] = understanding
        if params.get("sentiment_analysis"):
            rec["sentiment_analysis_results"] = sentence_sentiments(words)
        rec.update(audio_duration=round(result.audio_duration), audio_channels=result.audio_channels,
                   speech_model_used=(params.get("speech_models") or ["universal-3-pro"])[0],
                   local_engine=f"faster-whisper {result.model}", language_confidence=1.0 if words else None,
                   _words_raw=words)
        await self._finish(rec, started=started)

    async def _finish(self, rec: dict[str, Any], error: str | None = None, started: float | None = None) -> None:
        if started is not None:
            remaining = self.cfg.jobs.min_processing_seconds - (time.time() - started)
            if remaining > 0:
                await asyncio.sleep(remaining)  # keeps `processing` observable even on cache hits
        if error:
            rec.update(status="error", error=error)
            self.stats.incr("events", "transcripts_failed")
        else:
            rec.update(status="completed", error=None)
            self.stats.incr("events", "transcripts_completed")
        rec["_completed"] = _now()
        self.store.save(rec)

    @staticmethod
    def _options(params: dict[str, Any]) -> TranscribeOptions:
        labels, multi = bool(params.get("speaker_labels")), bool(params.get("multichannel"))
        keyterms = params.get("keyterms_prompt") or params.get("word_boost")
        lang = params.get("language_code") or "en"
        return TranscribeOptions(per_channel=labels or multi, diarize=labels,
                                 speakers_expected=params.get("speakers_expected"),
                                 language=lang.split("_")[0], hotwords=" ".join(keyterms) if keyterms else None)

    # -- audio -----------------------------------------------------------------------------------
    def _local_upload(self, url: str) -> Path | None:
        m = UPLOAD_PATH.search(url.split("?")[0])
        if not m:
            return None
        path = self.uploads_dir / m.group(1)
        return path if path.exists() else None

    async def _fetch_audio(self, url: str, tid: str) -> Path:
        local = self._local_upload(url)
        if local is not None:
            return local
        target = self.downloads_dir / tid
        assert self._http is not None
        try:
            timeout = aiohttp.ClientTimeout(total=self.cfg.jobs.download_timeout_seconds)
            async with self._http.get(url, timeout=timeout) as resp:
                if resp.status != 200:
                    raise _DownloadError(_download_message(url))
                with open(target, "wb") as f:  # noqa: ASYNC230 - local disk, small writes
                    async for block in resp.content.iter_chunked(1 << 16):
                        f.write(block)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _DownloadError(_download_message(url)) from exc
        return target

    # -- webhooks --------------------------------------------------------------------------------
    async def _deliver_webhook(self, rec: dict[str, Any]) -> None:
        url = rec.get("webhook_url")
        if not url or rec.get("_deleted"):
            return
        cfg = self.cfg.webhook
        headers = {"Content-Type": "application/json"}
        params = rec["_params"]
        if params.get("webhook_auth_header_name"):
            headers[params["webhook_auth_header_name"]] = params.get("webhook_auth_header_value") or ""
        body = {"transcript_id": rec["id"], "status": rec["status"]}
        assert self._http is not None
        for attempt in range(1, max(1, cfg.max_attempts) + 1):
            self.stats.incr("events", "webhook_attempts")
            status: int | None = None
            try:
                async with self._http.post(url, json=body, headers=headers,
                                           timeout=aiohttp.ClientTimeout(total=cfg.timeout_seconds)) as resp:
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.info("webhook %s attempt %d failed: %s", url, attempt, exc)
            if status is not None:
                rec["webhook_status_code"] = status
                self.store.save(rec)
            if status is not None and 200 <= status < 300:
                self.stats.incr("events", "webhook_delivered")
                return
            if status is not None and 400 <= status < 500:
                self.stats.incr("events", "webhook_rejected")  # 4xx: permanent, no retry
                return
            if attempt < cfg.max_attempts:
                await asyncio.sleep(cfg.retry_interval_seconds)
        self.stats.incr("events", "webhook_failed")


class _DownloadError(Exception):
    pass


def _download_message(url: str) -> str:
    return (f"Download error, unable to download {url}. Please make sure the file exists and is accessible "
            f"from the internet.")


def _clip(words: list[dict], start_ms: int | None, end_ms: int | None) -> list[dict]:
    if start_ms is None and end_ms is None:
        return words
    lo, hi = start_ms or 0, end_ms if end_ms is not None else float("inf")
    return [w for w in words if w["start"] >= lo and w["end"] <= hi]
