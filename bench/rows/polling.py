"""Row 3: polls and Step Functions state transitions per call, for 1-, 10- and 60-minute recordings.

Analytic, with the real policy code: the transcript becomes `completed` at
    ready = queue_seconds + processing_fraction * audio_seconds      (a model, not a measurement; CLI options)
Seeds: poll right after submitting, then every 3 s (`time.sleep(3)`); ported to Step Functions each poll is
Task + Choice + Wait = 3 transitions. Ours: the state machine WaitForTranscript -> CheckTranscript ->
TranscriptReady? (3 transitions per poll). The first wait is what start_call puts into `poll.wait_seconds`
(a first-wait function of the logic package if there is one, else POLL_INITIAL_SECONDS); every later wait
comes from calling the real `logic.check_transcript.check_transcript()` with the default settings, a
transcript double that answers from the modelled clock, and a no-op calls-table double. A change of the
policy code shows up here without touching the benchmark. Lambda and API latencies are ignored.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from bench import seeds
from bench.core import Context, Row
from bench.functions_code import quiet_powertools, use_functions

TITLE = "polls and state transitions per call"
IN_SMOKE = True
DURATIONS_MINUTES = (1, 10, 60)
TRANSITIONS_PER_POLL = 3
EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: names a first-wait function may have in logic.start_call / logic.check_transcript (the lead's planned change)
FIRST_WAIT_FUNCTIONS = ("initial_wait_seconds", "first_wait_seconds", "first_poll_wait_seconds")


class ModelledTranscriptDouble:
    """Stands in for the AssemblyAI adapter in the model: `completed` from `ready_at` seconds on."""

    def __init__(self, clock: list[float], ready_at: float) -> None:
        self.clock, self.ready_at = clock, ready_at

    def get_transcript(self, transcript_id: str) -> dict[str, Any]:
        status = "completed" if self.clock[0] >= self.ready_at else ("queued" if self.clock[0] < 1 else "processing")
        return {"id": transcript_id, "status": status}


class NullCallsDouble:
    def update_fields(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class PollRun:
    polls: int
    noticed_at: float     # seconds after submitting
    waits: list[int]
    first_wait_source: str

    @property
    def transitions(self) -> int:
        return self.polls * TRANSITIONS_PER_POLL


def _call_with(fn, **available: Any) -> Any:
    """Call `fn` with the keyword arguments it accepts (the policy may grow an audio_duration parameter)."""
    params = inspect.signature(fn).parameters
    return fn(**{k: v for k, v in available.items() if k in params})


def first_wait(settings, audio_seconds: float) -> tuple[int, str]:
    from call_analytics.logic import check_transcript as ct
    from call_analytics.logic import start_call as sc

    for module in (sc, ct):
        for name in FIRST_WAIT_FUNCTIONS:
            fn = getattr(module, name, None)
            if callable(fn):
                value = _call_with(fn, audio_duration=audio_seconds, audio_seconds=audio_seconds,
                                   duration=audio_seconds, settings=settings)
                return int(value), f"{module.__name__.rsplit('.', 1)[1]}.{name}()"
    return settings.POLL_INITIAL_SECONDS, f"POLL_INITIAL_SECONDS={settings.POLL_INITIAL_SECONDS}"


def ours(audio_seconds: float, ready_at: float) -> PollRun:
    from call_analytics.logic.check_transcript import check_transcript
    from call_analytics.models import CallState, PollState
    from call_analytics.settings import CheckTranscriptSettings

    settings = CheckTranscriptSettings(CALLS_TABLE="bench", ASSEMBLYAI_SECRET_ARN="bench")
    clock = [0.0]
    aai, calls = ModelledTranscriptDouble(clock, ready_at), NullCallsDouble()
    wait, source = first_wait(settings, audio_seconds)
    poll = PollState(status="queued", wait_seconds=wait, polls=0, started_at=EPOCH.isoformat())
    waits = []
    transcript: dict[str, Any] = {"audio_duration": audio_seconds, "has_speech": True}
    while True:
        waits.append(poll.wait_seconds)
        clock[0] += poll.wait_seconds
        state = CallState.model_validate({"call_id": "c-bench", "transcript_id": "t-bench", "poll": poll.model_dump(),
                                          "recording": {"bucket": "b", "key": "recordings/x.wav"},
                                          "transcript": transcript})
        poll = _call_with(check_transcript, state=state, settings=settings, aai=aai, calls=calls,
                          now=lambda: EPOCH + timedelta(seconds=clock[0]))
        quiet_powertools()  # drop the metrics the call added (we are outside a handler)
        if poll.status == "completed":
            return PollRun(poll.polls, clock[0], waits, source)
        if len(waits) > 100_000:
            raise RuntimeError("the policy never reached the modelled completion")


def run(ctx: Context) -> list[Row]:
    use_functions()
    quiet_powertools()
    from call_analytics.settings import CheckTranscriptSettings

    queue, fraction = ctx.options.queue_seconds, ctx.options.processing_fraction
    defaults = CheckTranscriptSettings(CALLS_TABLE="bench", ASSEMBLYAI_SECRET_ARN="bench")
    policy = ", ".join(f"{k}={v:g}" for k, v in defaults.model_dump().items() if k.startswith("POLL_"))
    model = f"ready = {queue:g} s + {fraction:g} x audio"
    rows = []
    for minutes in DURATIONS_MINUTES:
        audio = minutes * 60.0
        ready = queue + fraction * audio
        seed_times = seeds.poll_times(ready)
        mine = ours(audio, ready)
        seed_polls = len(seed_times)
        shown = mine.waits if len(mine.waits) <= 6 else [*mine.waits[:5], "...", mine.waits[-1]]
        rows.append(Row(f"polls per call, {minutes}-min recording", seed_polls, mine.polls, "polls",
                        f"SFN transitions {seed_polls * TRANSITIONS_PER_POLL} vs {mine.transitions} (3 per poll); "
                        f"{model} = {ready:g} s; our waits {shown} s (first: {mine.first_wait_source}; {policy})",
                        digits=0))
        rows.append(Row(f"completion noticed after ready, {minutes}-min", seed_times[-1] - ready,
                        mine.noticed_at - ready, "s", "the price of fewer polls: extra latency before "
                        "FetchTranscript (seeds: < 3 s)", digits=1))
    return rows
