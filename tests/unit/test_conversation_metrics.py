"""Conversation metrics on hand-built word lists (conversation/metrics.py; definitions in docs/data-model.md)."""

from __future__ import annotations

import pytest
from call_analytics.conversation.metrics import conversation_metrics, metric_value
from call_analytics.conversation.roles import RoleMap
from call_analytics.profiles.model import MetricsOptions

OPTIONS = MetricsOptions(interruption_gap_seconds=0.2, min_overlap_seconds=0.3, long_silence_seconds=5.0)
MONO_ROLES = RoleMap("override", {"A": "agent", "B": "customer"})
STEREO_ROLES = RoleMap("channels", {"1": "agent", "2": "customer"})


def say(speaker: str, start: float, text: str, seconds_per_word: float = 0.4, channel: str | None = None):
    """Words of one utterance, back to back (no pause inside)."""
    words = []
    t = start
    for token in text.split():
        words.append({"text": token, "start": int(t * 1000), "end": int((t + seconds_per_word) * 1000),
                      "speaker": speaker, "channel": channel})
        t += seconds_per_word
    return words


def transcript(*utterances, duration: float | None = None, multichannel: bool = False):
    words = sorted((w for u in utterances for w in u), key=lambda w: w["start"])
    return {"words": words, "audio_duration": duration, "multichannel": multichannel}


def test_talk_time_share_words_per_minute_turns_and_monologue():
    # agent 0-4 s (10 words), customer 5-7 s (5 words), agent 8-10 s (5 words)
    t = transcript(say("A", 0, " ".join(["w"] * 10)), say("B", 5, "one two three four five"),
                   say("A", 8, "six seven eight nine ten"), duration=12)
    m = conversation_metrics(t, MONO_ROLES, OPTIONS)
    agent, customer = m["roles"]["agent"], m["roles"]["customer"]
    assert agent["talk_seconds"] == pytest.approx(6.0) and customer["talk_seconds"] == pytest.approx(2.0)
    assert agent["talk_share"] == pytest.approx(0.75) and customer["talk_share"] == pytest.approx(0.25)
    assert agent["words"] == 15 and agent["words_per_minute"] == pytest.approx(150.0)
    assert agent["turns"] == 2 and customer["turns"] == 1 and m["turns_total"] == 3
    assert agent["longest_monologue"] == {"seconds": 4.0, "start": 0.0, "end": 4.0}
    assert m["duration_seconds"] == pytest.approx(10.0) and m["lead_in_seconds"] == 0.0
    assert m["tail_seconds"] == pytest.approx(2.0)


def test_non_talk_time_excludes_lead_in_and_tail_and_reports_the_longest_silence_with_times():
    t = transcript(say("A", 3, "hello there"), say("B", 10, "hi"), say("A", 11, "how can I help"), duration=30)
    m = conversation_metrics(t, MONO_ROLES, OPTIONS)
    # conversation 3.0-12.6; silences 3.8-10.0 (6.2 s) and 10.4-11.0 (0.6 s)
    assert m["lead_in_seconds"] == pytest.approx(3.0) and m["tail_seconds"] == pytest.approx(17.4)
    assert m["non_talk"]["seconds"] == pytest.approx(6.8)
    assert m["non_talk"]["share"] == pytest.approx(6.8 / 9.6, abs=1e-3)
    assert m["non_talk"]["longest_silence"] == {"seconds": 6.2, "start": 3.8, "end": 10.0}
    assert m["non_talk"]["long_silences"] == [{"seconds": 6.2, "start": 3.8, "end": 10.0}]
    assert metric_value(m, "longest_silence_seconds") == pytest.approx(6.2)
    assert metric_value(m, "long_silences") == 1


def test_a_short_breath_inside_a_turn_is_talk_not_silence():
    words = say("A", 0, "one two") + say("A", 1.2, "three")  # 0.4 s pause (< 0.5 s span merge)
    m = conversation_metrics(transcript(words), MONO_ROLES, OPTIONS)
    assert m["non_talk"]["seconds"] == 0.0 and m["roles"]["agent"]["talk_seconds"] == pytest.approx(1.6)


def test_multichannel_overlap_counts_real_interruptions_and_their_seconds():
    agent = say("A", 0, "let me explain how the billing works for this month", channel="1")  # 0-4.0 s
    customer = say("B", 2.5, "but that is wrong", channel="2")  # starts inside the agent's span: 1.5 s overlap
    backchannel = say("B", 6.0, "mhm", seconds_per_word=0.2, channel="2")
    agent_later = say("A", 6.1, "so", seconds_per_word=0.3, channel="1")  # overlaps 0.1 s: below 0.3 s, not counted
    t = transcript(agent, customer, backchannel, agent_later, multichannel=True)
    m = conversation_metrics(t, STEREO_ROLES, OPTIONS)
    assert m["interruption_method"] == "overlap"
    assert m["roles"]["customer"]["interruptions"] == 1
    assert m["roles"]["customer"]["interruption_seconds"] == pytest.approx(1.5)
    assert m["roles"]["agent"]["interruptions"] == 0


def test_mono_interruptions_are_turns_taken_within_the_gap_threshold():
    t = transcript(say("B", 0, "my internet keeps"), say("A", 1.3, "okay let me check"),  # gap 0.1 s: interrupts
                   say("B", 3.5, "thanks"))  # gap 0.6 s: a normal turn change
    m = conversation_metrics(t, MONO_ROLES, OPTIONS)
    assert m["interruption_method"] == "turn_gap"
    assert m["roles"]["agent"]["interruptions"] == 1 and m["roles"]["customer"]["interruptions"] == 0


def test_agent_response_latency_after_the_customer_stops():
    t = transcript(say("A", 0, "hello"), say("B", 1, "I have a problem"),  # customer ends 2.6
                   say("A", 3.6, "I see"),                                 # latency 1.0
                   say("B", 5, "it is broken"),                            # customer ends 6.2
                   say("A", 9.2, "right"))                                 # latency 3.0
    m = conversation_metrics(t, MONO_ROLES, OPTIONS)
    assert m["response_latency"] == {"count": 2, "median_seconds": 2.0, "max_seconds": 3.0}


def test_single_speaker_call():
    t = transcript(say("A", 1, "this is a voicemail please call me back"), duration=10)
    m = conversation_metrics(t, MONO_ROLES, OPTIONS)
    assert list(m["roles"]) == ["agent"] and m["roles"]["agent"]["talk_share"] == 1.0
    assert m["response_latency"] is None and m["non_talk"]["longest_silence"] is None
    assert metric_value(m, "talk_share", "customer") == 0.0  # absent role: no talk
    assert metric_value(m, "words_per_minute", "customer") is None  # undefined, not zero


def test_empty_transcript():
    m = conversation_metrics({"words": [], "audio_duration": 5}, MONO_ROLES, OPTIONS)
    assert m["roles"] == {} and m["duration_seconds"] == 0.0 and m["lead_in_seconds"] == 5.0
    assert m["non_talk"]["share"] is None and m["sentiment"] is None


def test_speakers_without_a_role_keep_their_label():
    t = transcript(say("A", 0, "hello"), say("C", 2, "I am the supervisor"))
    m = conversation_metrics(t, RoleMap("heuristic", {"A": "agent"}), OPTIONS)
    assert set(m["roles"]) == {"agent", "speaker c"}


def test_sentiment_per_role_and_quarter_from_per_sentence_sentiment():
    t = transcript(say("A", 0, "hello"), duration=40)
    t["sentiment_analysis_results"] = [
        {"start": 1000, "end": 3000, "sentiment": "POSITIVE", "speaker": "A"},
        {"start": 31000, "end": 33000, "sentiment": "NEGATIVE", "speaker": "B"},
        {"start": 35000, "end": 37000, "sentiment": "NEGATIVE", "speaker": "B"},
        {"start": 37000, "end": 39000, "sentiment": "NEUTRAL", "speaker": "B"},
    ]
    m = conversation_metrics(t, MONO_ROLES, OPTIONS)
    customer_q4 = m["sentiment"]["customer"][3]
    assert customer_q4 == {"quarter": 4, "positive": 0, "neutral": 1, "negative": 2, "sentences": 3,
                           "score": -0.67, "label": "negative"}
    assert m["sentiment"]["customer"][0]["label"] is None  # no sentence: no label
    assert m["sentiment"]["agent"][0]["label"] == "positive"
