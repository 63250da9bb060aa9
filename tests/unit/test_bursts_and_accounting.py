"""Issue 6 behaviour at the handler/logic level against moto: first-wait policy, slot release, the LLM quota loop
(spill-over, throttled answers, budgets, 429), per-call accounting, re-drive, combined vs separate mode."""

from __future__ import annotations

import json
import struct
from datetime import datetime, timezone

import pytest
from call_analytics import wiring
from call_analytics.adapters.calls_table import CallsTable
from call_analytics.adapters.limits import LlmRateLimiter, TranscriptionSemaphore
from call_analytics.audio_probe import COMPRESSED_BYTES_PER_SECOND, estimate_duration
from call_analytics.errors import AnalysisBudgetExhausted, ThrottledError, TranscriptionFailed
from call_analytics.logic.accounting import estimate_cost, llm_usage, workflow_stats
from call_analytics.logic.check_transcript import first_wait_seconds
from call_analytics.models import CallState
from call_analytics.settings import CheckTranscriptSettings
from unit_fakes import FakeAssemblyAI, chat_response, completed_transcript, vtt_for

CALL_ID = "c-00112233445566778899"
RECORDING = {"bucket": "recordings-bucket", "key": "recordings/a.wav", "version_id": None, "size": 1000}
PRIMARY, FALLBACK = "claude-sonnet-4-5-20250929", "claude-sonnet-4-20250514"
GOOD_ACTIONS = json.dumps({"action_items": [{"item": "Refund the charge", "owner": "Agent", "due_date": None}]})


@pytest.fixture
def fake_aai(monkeypatch):
    fake = FakeAssemblyAI()
    monkeypatch.setattr(wiring, "assemblyai_client", lambda *args, **kwargs: fake)
    return fake


@pytest.fixture
def call(aws):
    table = CallsTable(aws.calls_table, aws.ddb)
    table.create_call(CALL_ID, status="RECEIVED", recording_bucket=aws.bucket, recording_key=RECORDING["key"],
                      recording_size=RECORDING["size"])
    table.set_status(CALL_ID, "TRANSCRIBING", fields={"transcript_id": "tr-1", "profile": "default"})
    return table


#: the LLM windows run on a frozen clock, 10 s into a window: no test can straddle a window boundary
FROZEN_NOW = 1_800_000_010.0


def frozen_limiter(aws) -> LlmRateLimiter:
    return LlmRateLimiter(aws.limits_table, aws.ddb, clock=lambda: FROZEN_NOW)


@pytest.fixture(autouse=True)
def _frozen_llm_windows(monkeypatch, request):
    if "aws" in request.fixturenames:
        aws = request.getfixturevalue("aws")
        monkeypatch.setattr(wiring, "llm_rate_limiter", lambda table: frozen_limiter(aws))


def handler(name):
    import importlib

    return importlib.import_module(f"call_analytics.handlers.{name}").handler


def state(**parts) -> dict:
    base = {"call_id": CALL_ID, "transcript_id": "tr-1", "profile": "default", "recording": RECORDING,
            "poll": {"status": "queued", "wait_seconds": 5, "polls": 0,
                     "started_at": datetime.now(timezone.utc).isoformat()}}
    base.update(parts)
    return base


def prepare_transcript(aws, transcript=None):
    transcript = transcript or completed_transcript()
    aws.s3.put_object(Bucket=aws.bucket, Key=f"results/{CALL_ID}/transcript.json", Body=json.dumps(transcript))
    aws.s3.put_object(Bucket=aws.bucket, Key=f"results/{CALL_ID}/captions.vtt", Body=vtt_for(transcript))
    return transcript


# ---- completion detection: the first wait never comes from the duration (call_analytics/polling.py) --------
def test_first_wait_is_poll_initial_seconds_whatever_the_duration():
    settings = CheckTranscriptSettings(CALLS_TABLE="t", ASSEMBLYAI_SECRET_ARN="s", POLL_INITIAL_SECONDS=10,
                                       POLL_EXPECTED_RTF=0.1)
    for duration in (None, 30, 600, 3600, 10 * 24 * 3600):  # unknown, short, long, a lying header
        assert first_wait_seconds(duration, settings) == 10


def test_duration_from_wav_flac_headers_and_size():
    fmt = struct.pack("<HHIIHH", 1, 2, 8000, 32000, 4, 16)
    wav = b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    wav += b"data" + struct.pack("<I", 32000 * 90)
    assert estimate_duration(wav, len(wav) + 32000 * 90) == (90.0, "header")
    # streamed WAV with an unset data size: the object size decides
    streamed = wav[:-4] + struct.pack("<I", 0xFFFFFFFF)
    assert estimate_duration(streamed, len(wav) + 32000 * 30)[0] == pytest.approx(30.0)
    # FLAC STREAMINFO: 16 kHz, 1 600 000 samples = 100 s
    info = bytearray(34)
    rate, samples = 16000, 1_600_000
    info[10], info[11], info[12] = rate >> 12, (rate >> 4) & 0xFF, (rate & 0x0F) << 4
    info[13] = (samples >> 32) & 0x0F
    info[14:18] = (samples & 0xFFFFFFFF).to_bytes(4, "big")
    flac = b"fLaC" + bytes([0, 0, 0, 34]) + bytes(info)
    assert estimate_duration(flac, 10_000) == (100.0, "header")
    # compressed formats: the object size at the assumed bitrate
    assert estimate_duration(b"ID3\x04", COMPRESSED_BYTES_PER_SECOND * 120) == (120.0, "size")


# ---- the slot is given back --------------------------------------------------------------------------
@pytest.mark.parametrize("answer, released", [
    ({"id": "tr-1", "status": "processing"}, False),
    (completed_transcript(), True),
])
def test_check_releases_the_slot_when_the_job_is_done(aws, call, fake_aai, lambda_context, answer, released):
    sem = TranscriptionSemaphore(aws.limits_table, aws.ddb)
    sem.acquire(CALL_ID, 2)
    fake_aai.transcripts["tr-1"] = [answer]
    handler("check_transcript")(state(), lambda_context)
    assert (CALL_ID not in sem.holders()) is released


def test_check_releases_the_slot_of_a_failed_transcript(aws, call, fake_aai, lambda_context):
    sem = TranscriptionSemaphore(aws.limits_table, aws.ddb)
    sem.acquire(CALL_ID, 2)
    fake_aai.transcripts["tr-1"] = [{"id": "tr-1", "status": "error", "error": "bad audio"}]
    with pytest.raises(TranscriptionFailed):
        handler("check_transcript")(state(), lambda_context)
    assert sem.count() == 0


def test_record_failure_releases_the_slot_and_counts_the_workflow(aws, call, fake_aai, lambda_context):
    sem = TranscriptionSemaphore(aws.limits_table, aws.ddb)
    sem.acquire(CALL_ID, 2)
    slot = {"acquired": False, "wait_seconds": 60, "attempts": 7, "waited_seconds": 300}
    failed = {"call_id": CALL_ID, "profile": "default", "recording": RECORDING, "slot": slot,
              "error": {"Error": "SlotWaitExceeded", "Cause": json.dumps({"errorMessage": "no slot in 300s"})}}
    result = handler("record_failure")(failed, lambda_context)
    assert result["reason"] == "SlotWaitExceeded: no slot in 300s" and sem.count() == 0
    handler("record_failure")(failed, lambda_context)  # idempotent, also for the semaphore
    assert sem.count() == 0
    stats = call.get_call(CALL_ID)["workflow_stats"]
    # HasTranscript? + 7 x (Submit + SlotAcquired?) + 6 WaitForSlot + RecordFailure + CallFailed
    assert stats["slot_attempts"] == 7 and stats["state_transitions"] == 1 + 14 + 6 + 2


# ---- LLM quota: spill-over, throttled answers, budgets, 429 --------------------------------------------
def fill_window(aws, model: str, limit: int = 30) -> None:
    limiter = frozen_limiter(aws)
    while limiter.try_acquire(model, limit):
        pass


def test_full_primary_window_spills_over_to_the_fallback_model(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    fill_window(aws, PRIMARY)
    fake_aai.chat_answers = [chat_response(GOOD_ACTIONS, model=FALLBACK)]
    ref = handler("run_analysis")({"call_id": CALL_ID, "profile": "default", "analysis": "action_items"},
                                  lambda_context)
    assert ref["status"] == "done" and ref["valid"] is True
    [request] = fake_aai.chat_requests
    assert request["model"] == FALLBACK and "fallbacks" not in request  # the primary has no room
    assert frozen_limiter(aws).used(FALLBACK) == 1
    [item] = call.list_analyses(CALL_ID)
    assert item["model"] == FALLBACK and item["requests"] == 1


def test_spill_over_follows_the_analysis_own_fallback_models(aws, call, fake_aai, lambda_context):
    own = "claude-haiku-4-5-20251001"
    put_profile(aws, "own", mode="separate", analyses={"action_items": {"fallback_models": [own]},
                                                       "sentiment": {"fallback_models": []}})
    prepare_transcript(aws)
    limiter = frozen_limiter(aws)
    fill_window(aws, PRIMARY)
    fake_aai.chat_answers = [chat_response(GOOD_ACTIONS, model=own)]
    task = {"call_id": CALL_ID, "profile": "own", "analysis": "action_items"}
    assert handler("run_analysis")(task, lambda_context)["status"] == "done"
    [request] = fake_aai.chat_requests
    assert request["model"] == own and "fallbacks" not in request  # the analysis' fallback, not the profile's
    assert (limiter.used(own), limiter.used(FALLBACK)) == (1, 0)
    # its own chain full: throttled, although the profile's fallback still has room
    fill_window(aws, own)
    throttled = handler("run_analysis")(task, lambda_context)
    assert throttled["status"] == "throttled" and len(fake_aai.chat_requests) == 1
    assert f"{PRIMARY} (30/min), {own} (30/min)" in throttled["reason"] and FALLBACK not in throttled["reason"]
    # "fallback_models": [] -> no spill-over for that analysis at all
    sentiment = handler("run_analysis")({**task, "analysis": "sentiment"}, lambda_context)
    assert sentiment["status"] == "throttled" and f"windows full for {PRIMARY} (30/min)" in sentiment["reason"]
    # the others keep the profile's chain
    fake_aai.chat_answers = [chat_response(json.dumps(GOOD_PHASES), model=FALLBACK)]
    assert handler("run_analysis")({**task, "analysis": "phases"}, lambda_context)["status"] == "done"
    assert fake_aai.chat_requests[-1]["model"] == FALLBACK and limiter.used(FALLBACK) == 1


def test_a_spilled_request_keeps_the_rest_of_the_analysis_chain_as_gateway_fallbacks(aws, call, fake_aai,
                                                                                     lambda_context):
    first, second = "claude-haiku-4-5-20251001", "claude-sonnet-4-6"
    put_profile(aws, "own", mode="separate", analyses={"action_items": {"fallback_models": [first, second]}})
    prepare_transcript(aws)
    fake_aai.chat_answers = [GOOD_ACTIONS, chat_response(GOOD_ACTIONS, model=first)]
    task = {"call_id": CALL_ID, "profile": "own", "analysis": "action_items"}
    assert handler("run_analysis")(task, lambda_context)["status"] == "done"
    assert fake_aai.chat_requests[0]["fallbacks"] == [{"model": first}, {"model": second}]
    assert fake_aai.chat_requests[0]["fallback_config"] == {"depth": 2}
    fill_window(aws, PRIMARY)
    assert handler("run_analysis")(task, lambda_context)["status"] == "done"
    spilled = fake_aai.chat_requests[1]
    assert spilled["model"] == first and spilled["fallbacks"] == [{"model": second}]
    assert spilled["fallback_config"] == {"depth": 1}


def test_each_model_has_its_own_limit_and_the_lower_limit_primary_spills_over(aws, call, fake_aai, lambda_context,
                                                                             monkeypatch):
    prepare_transcript(aws)
    monkeypatch.setenv("LLM_REQUESTS_PER_MINUTE", json.dumps({PRIMARY: 2, FALLBACK: 5}))
    limiter = frozen_limiter(aws)
    fill_window(aws, PRIMARY, limit=2)  # full at its own limit of 2 (the old shared 30 would still have room)
    assert [limiter.try_acquire(FALLBACK, 5) for _ in range(3)] == [True] * 3  # over 2, under its own 5
    fake_aai.chat_answers = [chat_response(GOOD_ACTIONS, model=FALLBACK)]
    task = {"call_id": CALL_ID, "profile": "default", "analysis": "action_items"}
    ref = handler("run_analysis")(task, lambda_context)
    assert ref["status"] == "done" and ref["valid"] is True
    [request] = fake_aai.chat_requests
    assert request["model"] == FALLBACK and "fallbacks" not in request
    assert (limiter.used(PRIMARY), limiter.used(FALLBACK)) == (2, 4)
    # the fallback's window fills at 5: both full -> throttled, the reason names each model's limit
    assert limiter.try_acquire(FALLBACK, 5) and not limiter.try_acquire(FALLBACK, 5)
    throttled = handler("run_analysis")(task, lambda_context)
    assert throttled["status"] == "throttled" and len(fake_aai.chat_requests) == 1
    assert f"{PRIMARY} (2/min), {FALLBACK} (5/min)" in throttled["reason"]


def test_a_model_missing_from_the_map_gets_the_star_limit(aws, call, fake_aai, lambda_context, monkeypatch):
    prepare_transcript(aws)
    monkeypatch.setenv("LLM_REQUESTS_PER_MINUTE", json.dumps({PRIMARY: 40, "*": 3}))
    limiter = frozen_limiter(aws)
    fill_window(aws, PRIMARY)  # 30 requests: full under the default, not under its own 40
    fake_aai.chat_answers = [GOOD_ACTIONS]
    task = {"call_id": CALL_ID, "profile": "default", "analysis": "action_items"}
    assert handler("run_analysis")(task, lambda_context)["status"] == "done"
    assert fake_aai.chat_requests[-1]["model"] == PRIMARY and limiter.used(PRIMARY) == 31
    # primary full at 40 -> the fallback (not in the map: "*" = 3); a 429 closes its window at its own limit
    fill_window(aws, PRIMARY, limit=40)
    fake_aai.chat_answers = [ThrottledError("LLM gateway rate limited (HTTP 429)", retry_after=5)]
    throttled = handler("run_analysis")(task, lambda_context)
    assert throttled["status"] == "throttled" and fake_aai.chat_requests[-1]["model"] == FALLBACK
    assert limiter.used(FALLBACK) == 3 and limiter.try_acquire(FALLBACK, 3) is False


def test_no_quota_anywhere_answers_throttled_then_the_loop_finishes(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    fill_window(aws, PRIMARY)
    fill_window(aws, FALLBACK)
    task = {"call_id": CALL_ID, "profile": "default", "analysis": "action_items"}
    throttled = handler("run_analysis")(task, lambda_context)
    assert throttled["status"] == "throttled" and fake_aai.chat_requests == []
    assert 50 <= throttled["wait_seconds"] <= 50 + 10  # to the next window, plus spread
    assert throttled["throttle"]["waits"] == 1 and throttled["throttle"]["waited_seconds"] == throttled["wait_seconds"]
    assert {k: throttled[k] for k in ("call_id", "profile", "analysis")} == task  # the item input survives the loop
    assert "windows full" in throttled["reason"]
    # the next window (the Wait state passed): the same item input runs and reports its wait
    aws.ddb.delete_item(TableName=aws.limits_table, Key={
        "pk": {"S": f"RATE#{PRIMARY}"}, "sk": {"S": str(frozen_limiter(aws).window())}})
    fake_aai.chat_answers = [GOOD_ACTIONS]
    done = handler("run_analysis")(throttled, lambda_context)
    assert done["status"] == "done" and done["waits"] == 1 and done["waited_seconds"] == throttled["wait_seconds"]


def test_budget_exhaustion_raises_a_named_error(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    fill_window(aws, PRIMARY)
    fill_window(aws, FALLBACK)
    task = {"call_id": CALL_ID, "profile": "default", "analysis": "phases",
            "throttle": {"waits": 9, "waited_seconds": 600}}  # ANALYSIS_WAIT_BUDGET_SECONDS=600 spent
    with pytest.raises(AnalysisBudgetExhausted, match="ANALYSIS_WAIT_BUDGET_SECONDS=600"):
        handler("run_analysis")(task, lambda_context)


def test_gateway_429_honours_retry_after_and_closes_the_window(aws, call, fake_aai, lambda_context):
    prepare_transcript(aws)
    fake_aai.chat_answers = [ThrottledError("LLM gateway rate limited (HTTP 429)", retry_after=42)]
    throttled = handler("run_analysis")({"call_id": CALL_ID, "profile": "default", "analysis": "phases"},
                                        lambda_context)
    assert throttled["status"] == "throttled" and 42 <= throttled["wait_seconds"] <= 52
    assert throttled["throttle"]["requests"] == 1
    assert frozen_limiter(aws).try_acquire(PRIMARY, 30) is False  # closed for everyone


def test_interrupted_repair_keeps_counting_the_spent_tokens(aws, call, fake_aai, lambda_context, monkeypatch):
    prepare_transcript(aws)
    monkeypatch.setenv("LLM_REQUESTS_PER_MINUTE", "1")  # room for the first request only
    fill_window(aws, FALLBACK, limit=1)
    fake_aai.chat_answers = ["not json at all"]  # invalid: the job wants a repair request, which gets no quota
    task = {"call_id": CALL_ID, "profile": "default", "analysis": "action_items"}
    throttled = handler("run_analysis")(task, lambda_context)
    assert throttled["status"] == "throttled" and len(fake_aai.chat_requests) == 1
    assert throttled["throttle"]["usage"]["total_tokens"] == 150 and throttled["throttle"]["requests"] == 1
    # next window: the job starts over; the interrupted request's tokens are still counted
    window = frozen_limiter(aws).window()
    aws.ddb.delete_item(TableName=aws.limits_table, Key={"pk": {"S": f"RATE#{PRIMARY}"}, "sk": {"S": str(window)}})
    fake_aai.chat_answers = [GOOD_ACTIONS]
    done = handler("run_analysis")(throttled, lambda_context)
    [item] = call.list_analyses(CALL_ID)
    assert done["status"] == "done" and done["requests"] == 2 and done["waits"] == 1
    assert item["tokens"]["total_tokens"] == 300 and item["requests"] == 2 and item["valid"] is True


# ---- accounting ---------------------------------------------------------------------------------------
def test_llm_usage_counts_a_combined_request_once():
    combined = {"request": "combined", "model": PRIMARY, "requests": 1,
                "tokens": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}}
    items = [{**combined, "analysis": name} for name in ("phases", "sentiment", "action_items")]
    assert llm_usage(items) == {"input_tokens": 1000, "output_tokens": 200, "requests": 1,
                                "by_model": {PRIMARY: {"input_tokens": 1000, "output_tokens": 200, "requests": 1}}}
    separate = [{"analysis": n, "request": n, "model": PRIMARY, "requests": 2,
                 "tokens": {"prompt_tokens": 500, "completion_tokens": 100}} for n in ("phases", "sentiment")]
    assert llm_usage(separate)["input_tokens"] == 1000 and llm_usage(separate)["requests"] == 4


def test_cost_per_audio_minute_from_the_price_table():
    pricing = {"as_of": "test", "currency": "USD", "transcription_per_hour": {"universal-3-pro": 0.21},
               "llm_per_million_tokens": {PRIMARY: {"input": 3.0, "output": 15.0}}}
    usage = {"by_model": {PRIMARY: {"input_tokens": 10_000, "output_tokens": 2_000, "requests": 3},
                          "mystery-model": {"input_tokens": 5, "output_tokens": 5, "requests": 1}}}
    cost = estimate_cost(usage=usage, audio_seconds=600, speech_model="universal-3-pro", pricing=pricing)
    assert cost["llm"] == pytest.approx(0.03 + 0.03)
    assert cost["transcription"] == pytest.approx(0.035)
    assert cost["per_audio_minute"] == pytest.approx((0.06 + 0.035) / 10)
    assert cost["unpriced"] == ["mystery-model"] and cost["prices_as_of"] == "test"


def test_the_bundled_price_table_prices_the_bundled_profiles():
    from call_analytics.logic.accounting import load_pricing
    from call_analytics.profiles.loader import bundled_profile_names, load_bundled

    pricing = load_pricing()
    assert pricing["as_of"] and pricing["currency"] == "USD"
    for name in bundled_profile_names():
        profile = load_bundled(name)
        models = {profile.llm.model, *profile.llm.fallback_models}
        for analysis in profile.enabled_analyses():
            config = profile.analysis(analysis)
            models |= {config.model or profile.llm.model, *(config.fallback_models or [])}
        for model in models:
            assert model in pricing["llm_per_million_tokens"], (name, model)
        assert profile.transcription.speech_models[0] in pricing["transcription_per_hour"]


def test_workflow_stats_count_polls_waits_and_transitions():
    full = CallState.model_validate(state(
        slot={"acquired": True, "wait_seconds": 30, "attempts": 3, "waited_seconds": 20, "transcript_id": "tr-1"},
        poll={"status": "completed", "wait_seconds": 5, "polls": 4, "started_at": "2026-01-01T00:00:00+00:00"},
        transcript={"audio_duration": 45, "has_speech": True, "analyses": ["phases", "sentiment"]},
        analyses=[{"analysis": "phases", "valid": True, "item_key": "k", "requests": 1},
                  {"analysis": "sentiment", "valid": True, "item_key": "k", "requests": 2, "waits": 2,
                   "waited_seconds": 80}]))
    stats = workflow_stats(full)
    # 1 + slot (3x2 + 2 waits + 2 passes) + 4 polls x 3 + fetch/choice 2 + map 1 + items (2+1) + (6+2+1) + finalize
    assert stats["state_transitions"] == 1 + 10 + 12 + 2 + 1 + 3 + 9 + 1
    assert (stats["slot_attempts"], stats["polls"], stats["llm_requests"], stats["llm_quota_waits"],
            stats["llm_quota_waited_seconds"]) == (3, 4, 3, 2, 80)


def test_finalize_stores_usage_cost_and_stats_and_digests_them(aws, call, fake_aai, lambda_context):
    call.update_fields(CALL_ID, {"speech_model": "universal-3-pro"})
    tokens = {"prompt_tokens": 2000, "completion_tokens": 400, "total_tokens": 2400}
    for name in ("phases", "sentiment", "action_items"):
        call.put_analysis(CALL_ID, name, {"valid": True, "result": None, "request": name, "model": PRIMARY,
                                          "tokens": tokens, "requests": 1})
    full = state(poll={"status": "completed", "wait_seconds": 5, "polls": 2, "started_at": "2026-01-01T00:00:00+00:00"},
                 transcript={"audio_duration": 120, "has_speech": True, "skip_reason": None,
                             "analyses": ["phases", "sentiment", "action_items"]},
                 analyses=[{"analysis": n, "valid": True, "item_key": "k", "requests": 1}
                           for n in ("phases", "sentiment", "action_items")])
    handler("finalize_call")(full, lambda_context)
    record = call.get_call(CALL_ID)
    assert record["llm_usage"]["input_tokens"] == 6000 and record["llm_usage"]["requests"] == 3
    assert record["cost"]["llm"] == pytest.approx(6000 / 1e6 * 3 + 1200 / 1e6 * 15)
    assert record["cost"]["transcription"] == pytest.approx(120 / 3600 * 0.21)
    assert record["workflow_stats"]["polls"] == 2
    [note] = aws.notifications()
    digest = note["message"]["digest"]
    assert digest["llm"] == {"input_tokens": 6000, "output_tokens": 1200, "requests": 3}
    assert digest["cost"]["per_audio_minute"] == pytest.approx(record["cost"]["per_audio_minute"])
    assert digest["workflow"]["polls"] == 2 and digest["workflow"]["state_transitions"] > 0


# ---- lean LLM use: the renderings and the two modes, end to end through the handlers -------------------
def put_profile(aws, name: str, analyses: dict[str, dict] | None = None, **llm) -> None:
    profile = json.loads(open(wiring.__file__.replace("wiring.py", "profiles/default.json")).read())
    profile["name"] = name
    profile["llm"].update(llm)
    for analysis, fields in (analyses or {}).items():
        profile["analyses"][analysis].update(fields)
    aws.s3.put_object(Bucket=aws.bucket, Key=f"profiles/{name}.json", Body=json.dumps(profile).encode())


GOOD_PHASES = {"phases": [{"name": "Introduction", "start_time": 0.5, "end_time": 4.0, "summary": "Greeting."},
                          {"name": "Complaint", "start_time": 4.2, "end_time": 12.0, "summary": "Double charge."},
                          {"name": "Resolution", "start_time": 12.3, "end_time": 40.0, "summary": "Refund."},
                          {"name": "Goodbye", "start_time": 40.2, "end_time": 45.0, "summary": "Bye."}]}


def sentiment_answers() -> list[dict]:
    from call_analytics.profiles.loader import load_bundled

    return [{"question": q.question, "answer": "Positive.", "reason": "Refund.", "quote": "I will refund it today"}
            for q in load_bundled("default").analysis("sentiment").questions]


def check_answers() -> list[dict]:
    """The default profile's category questions (profiles/categories.py), answered as `checks`."""
    from call_analytics.profiles.loader import load_bundled

    return [{"question": q, "answer": "no", "quote": ""} for q in load_bundled("default").check_questions()]


@pytest.mark.parametrize("mode, transcript_format", [("separate", "compact"), ("separate", "vtt"),
                                                     ("combined", "compact"), ("combined", "vtt")])
def test_modes_and_renderings_end_to_end(aws, call, fake_aai, lambda_context, mode, transcript_format):
    put_profile(aws, "lean", mode=mode, transcript_format=transcript_format)
    transcript = completed_transcript()
    fake_aai.transcripts["tr-1"] = [transcript]
    fake_aai.vtt["tr-1"] = vtt_for(transcript)
    current = state(profile="lean")
    current["transcript"] = handler("fetch_transcript")(current, lambda_context)
    planned = current["transcript"]["analyses"]
    assert planned == (["combined"] if mode == "combined" else ["phases", "sentiment", "action_items"])
    if mode == "combined":
        fake_aai.chat_answers = [json.dumps({"phases": GOOD_PHASES["phases"], "answers": sentiment_answers(),
                                             "action_items": json.loads(GOOD_ACTIONS)["action_items"],
                                             "checks": check_answers()})]
    else:  # the category questions ride in the sentiment request
        fake_aai.chat_answers = [json.dumps(GOOD_PHASES), json.dumps({"answers": sentiment_answers(),
                                                                      "checks": check_answers()}), GOOD_ACTIONS]
    current["analyses"] = [handler("run_analysis")({"call_id": CALL_ID, "profile": "lean", "analysis": a},
                                                   lambda_context) for a in planned]
    assert all(a["status"] == "done" and a["valid"] for a in current["analyses"])
    # one transcript copy per request, in the profile's rendering
    assert len(fake_aai.chat_requests) == len(planned)
    for request in fake_aai.chat_requests:
        content = request["messages"][0]["content"]
        if transcript_format == "vtt":
            assert "WEBVTT" in content and "00:04.200 --> 00:12.000" in content
        else:  # the lean compact rendering: start seconds, roles
            assert "[4] Customer: Hi Dana" in content and "WEBVTT" not in content
    handler("finalize_call")(current, lambda_context)
    [note] = aws.notifications()
    digest = note["message"]["digest"]
    assert digest["phases"] == ["Introduction", "Complaint", "Resolution", "Goodbye"]
    assert digest["action_items"] == 1 and digest["invalid_analyses"] == []
    assert digest["llm"]["requests"] == len(planned)  # combined: 1 request for all three
    assert digest["llm"]["input_tokens"] == 100 * len(planned)


# ---- re-drive -------------------------------------------------------------------------------------------
def redrive_deps(aws):
    from call_analytics.logic.redrive import RedriveDeps

    return RedriveDeps.from_clients(dynamodb=aws.ddb, s3=aws.s3, stepfunctions=aws.sfn, calls_table=aws.calls_table,
                                    bucket=aws.bucket, state_machine_arn=aws.machine_arn)


def execution_input(aws, name: str) -> dict:
    [execution] = [e for e in aws.executions() if e["name"] == name]
    return json.loads(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"])


def test_redrive_of_a_completed_transcript_skips_submission_and_uses_the_current_profile(aws, call):
    from call_analytics.logic.redrive import redrive_call

    call.update_fields(CALL_ID, {"transcript_status": "completed"})
    call.set_status(CALL_ID, "COMPLETED", fields={"completion_notified": True})
    call.put_analysis(CALL_ID, "phases", {"valid": True})
    put_profile(aws, "default", mode="separate")  # the profile changed since the call ran (bundled: combined)
    result = redrive_call(CALL_ID, redrive_deps(aws))
    assert result.outcome == "started" and result.execution_name == f"{CALL_ID}-r1" and result.resubmit is False
    started = execution_input(aws, f"{CALL_ID}-r1")
    assert started["transcript_id"] == "tr-1" and started["poll"]["status"] == "completed"  # -> FetchTranscript
    snapshot = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=f"results/{CALL_ID}/profile.json")["Body"].read())
    assert snapshot["llm"]["mode"] == "separate"  # re-snapshotted
    record = call.get_call(CALL_ID)
    assert record["status"] == "QUEUED" and record["completion_notified"] is False
    assert "re-drive r1" in record["history"][-1]["detail"] and call.list_analyses(CALL_ID) == []
    # a second re-drive gets the next name
    call.set_status(CALL_ID, "COMPLETED")
    assert redrive_call(CALL_ID, redrive_deps(aws)).execution_name == f"{CALL_ID}-r2"


def test_redrive_of_a_failed_transcription_submits_again(aws, call):
    from call_analytics.logic.redrive import redrive_call

    call.set_status(CALL_ID, "FAILED", fields={"failure_error": "TranscriptionFailed", "failure_reason": "x",
                                               "failure_notified": True})
    result = redrive_call(CALL_ID, redrive_deps(aws))
    assert result.outcome == "started" and result.resubmit is True
    started = execution_input(aws, f"{CALL_ID}-r1")
    assert "transcript_id" not in started and "poll" not in started  # -> SubmitTranscription
    record = call.get_call(CALL_ID)
    assert record["transcript_id"] is None and record["failure_reason"] is None


def test_redrive_skips_running_calls_and_redrives_all_failed(aws, call):
    from call_analytics.logic.redrive import redrive_call, redrive_failed

    skipped = redrive_call(CALL_ID, redrive_deps(aws))
    assert skipped.outcome == "skipped" and "still in progress" in skipped.reason
    assert redrive_call("c-unknown", redrive_deps(aws)).reason == "no such call"
    assert redrive_call(CALL_ID, redrive_deps(aws), force=True).outcome == "started"  # e.g. a timed-out execution
    call.set_status(CALL_ID, "FAILED", fields={"failure_error": "States.Timeout"})
    [result] = redrive_failed(redrive_deps(aws))
    assert result.call_id == CALL_ID and result.outcome == "started" and result.resubmit is False  # polls tr-1
    assert execution_input(aws, f"{CALL_ID}-r2")["poll"]["status"] == "queued"
