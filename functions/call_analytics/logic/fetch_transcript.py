"""fetch_transcript: store the transcript JSON + VTT, update the call record, decide which analyses run.

While the API fails (429/5xx after the client's retries) it answers {"status": "retry", "wait_seconds", "outage"}
(call_analytics/outages.py): the state machine waits (WaitToFetch) and fetches again, until OUTAGE_BUDGET_SECONDS.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from call_analytics.analyses.catalog import analyses_to_run
from call_analytics.errors import TransientError
from call_analytics.logic.common import load_call_profile, result_key, utc_now
from call_analytics.logic.conversation import call_roles, store_metrics
from call_analytics.models import CallState, CallStatus, FetchRetry, TranscriptSummary
from call_analytics.observability import MetricUnit, logger, metrics
from call_analytics.outages import OUTAGE_ERRORS, ride_out
from call_analytics.profiles.loader import ProfileLoader
from call_analytics.settings import FetchTranscriptSettings
from call_analytics.transcript_facts import summarise


def fetch_transcript(
    state: CallState,
    *,
    settings: FetchTranscriptSettings,
    aai: Any,
    store: Any,
    calls: Any,
    profiles: ProfileLoader,
    now: Callable[[], datetime] = utc_now,
    jitter: Callable[[], float] = random.random,
) -> TranscriptSummary | FetchRetry:
    try:
        return _fetch(state, settings=settings, aai=aai, store=store, calls=calls, profiles=profiles)
    except OUTAGE_ERRORS as exc:
        previous = state.transcript.outage if isinstance(state.transcript, FetchRetry) else None
        outage = ride_out(previous, exc, step="FetchTranscript", budget_seconds=settings.OUTAGE_BUDGET_SECONDS,
                          now=now(), jitter=jitter)
        metrics.add_metric(name="OutageWaits", unit=MetricUnit.Count, value=1)
        logger.warning("fetching the transcript failed; waiting out the outage",
                       extra={"wait_seconds": outage.wait_seconds, "outage_waits": outage.waits,
                              "reason": outage.reason})
        return FetchRetry(wait_seconds=outage.wait_seconds, outage=outage)


def _fetch(state: CallState, *, settings: FetchTranscriptSettings, aai: Any, store: Any, calls: Any,
           profiles: ProfileLoader) -> TranscriptSummary:
    bucket, prefix, call_id = settings.RECORDINGS_BUCKET, settings.RESULTS_PREFIX, state.call_id
    transcript = aai.get_transcript(state.transcript_id)
    if transcript.get("status") != "completed":
        raise TransientError(f"transcript {state.transcript_id} is {transcript.get('status')!r}, not completed")
    facts = summarise(transcript)
    store.put_json(bucket, result_key(prefix, call_id, "transcript.json"), transcript)

    profile = load_call_profile(store, profiles, bucket, prefix, call_id, state.profile)
    has_speech = facts.word_count > 0
    skip_reason = None
    if not has_speech:
        skip_reason = f"no speech detected (0 words in {facts.audio_duration or 0:g}s of audio)"
    elif facts.word_count < profile.min_words_for_analysis:
        skip_reason = (f"only {facts.word_count} words, fewer than min_words_for_analysis "
                       f"{profile.min_words_for_analysis} of profile {profile.name!r}")
    elif not profile.enabled_analyses():
        skip_reason = f"profile {profile.name!r} enables no analyses"
    if has_speech:
        vtt = aai.get_vtt(state.transcript_id)
        store.put_text(bucket, result_key(prefix, call_id, "captions.vtt"), vtt, content_type="text/vtt; charset=utf-8")
    analyses = [] if skip_reason else analyses_to_run(profile)
    roles = call_roles(transcript, profile, calls.get_call(call_id))
    store_metrics(transcript, profile, roles, store=store, calls=calls, bucket=bucket, prefix=prefix, call_id=call_id)

    fields = {
        "audio_duration": facts.audio_duration,
        "word_count": facts.word_count,
        "speakers": facts.speakers,
        "roles": roles.to_record(),
        # billed add-ons the transcript carries (priced in `cost`: pricing.json transcription_features_per_hour)
        "transcription_features": ["sentiment_analysis"] if transcript.get("sentiment_analysis_results") else [],
        "language_code": facts.language_code,
        "has_speech": has_speech,
        "skip_reason": skip_reason,
        "analyses_planned": analyses,
        "transcript_key": result_key(prefix, call_id, "transcript.json"),
        # what ran (priced in the cost estimate): the API's answer, else the profile's first choice
        "speech_model": transcript.get("speech_model_used") or transcript.get("speech_model")
        or (profile.transcription.speech_models[0] if profile.transcription.speech_models else None),
    }
    if analyses:
        calls.set_status(call_id, CallStatus.ANALYZING, detail=f"analyses: {', '.join(analyses)}", fields=fields,
                         only_if_not=CallStatus.TERMINAL)
    else:
        calls.update_fields(call_id, fields)
        metrics.add_metric(name="AnalysesSkipped", unit=MetricUnit.Count, value=1)
    if facts.audio_duration:
        metrics.add_metric(name="AudioSeconds", unit=MetricUnit.Seconds, value=facts.audio_duration)
    logger.info("transcript stored", extra={"words": facts.word_count, "duration": facts.audio_duration,
                                            "analyses": analyses, "skip_reason": skip_reason})
    return TranscriptSummary(audio_duration=facts.audio_duration, has_speech=has_speech,
                             skip_reason=skip_reason, analyses=analyses)
