"""Profile validation, lookup order (S3 over bundled) and the choice of profile per upload."""

from __future__ import annotations

import json

import pytest
from call_analytics.adapters.results_store import ObjectMissing
from call_analytics.analyses.catalog import analyses_to_run, build_job
from call_analytics.analyses.validation import TranscriptFacts
from call_analytics.errors import InvalidProfile
from call_analytics.logic.transcription_request import transcript_params
from call_analytics.profiles.loader import (
    ProfileLoader,
    bundled_profile_names,
    choose_profile_name,
    load_bundled,
)
from call_analytics.profiles.model import parse_profile


class FakeProfileStore:
    def __init__(self, objects: dict[str, bytes]):
        self.objects = objects

    def get_bytes(self, bucket, key):
        if key not in self.objects:
            raise ObjectMissing(key)
        return self.objects[key]


# ---- the seeds (AssemblyAI tutorials 000/001 phases, 002 sentiment, 003 action items), copied literally ----
SEED_MODEL = "claude-sonnet-4-5-20250929"
SEED_MAX_TOKENS = {"phases": 2000, "sentiment": 2000, "action_items": 1000}
SEED_SPEECH_MODELS = ["universal-3-pro"]
SEED_PHASES = ["Introduction", "Complaint", "Resolution", "Goodbye"]
SEED_PHASES_TASK = (
    "Analyze the following transcript of a phone call conversation and divide it into the following phases:\n"
    "Introduction, Complaint, Resolution, Goodbye")
SEED_PHASE_STEPS = ("For each phase:\n1. Identify the start and end timestamps (in seconds)\n"
                    "2. Provide a brief summary of what happened in that phase")
SEED_OTHER_RULE = ('Ensure that all parts of the conversation are covered by a phase, using "Other" for any parts '
                   "that don't fit into the specified phases.")
SEED_VTT_NOTE = "You will be given the transcript in the format of VTT captions."
SEED_AGENT_CONTEXT = "The agent is trying to get the customer to go through with the update to their car."
SEED_CUSTOMER_CONTEXT = "The customer is calling to check how much it would cost to update the map in his car."
SEED_ANSWER_FORMAT = "<answer in one sentence> <reason in one sentence>"
SEED_QUESTIONS = [
    ("What was the overall sentiment of the call?", SEED_CUSTOMER_CONTEXT),
    ("What was the sentiment of the agent in this call?", SEED_AGENT_CONTEXT),
    ("What was the sentiment of the customer in this call?", SEED_CUSTOMER_CONTEXT),
    ("What quote best demonstrates the customer's level of interest?", SEED_CUSTOMER_CONTEXT),
    ("Provide a quote from the agent that demonstrates their level of enthusiasm.", SEED_AGENT_CONTEXT),
]
SEED_SENTIMENT_INTRO = ("You are an expert at analyzing call transcripts.\n"
                        "Given the series of questions below, answer them accurately and concisely.\n"
                        "When context or answer format is provided, use it to guide your answers.")
SEED_GUIDELINES = [
    "You are an expert at understanding transcripts of conversations, calls and meetings.",
    "You are an expert at coming up with ideal action items based on the contents of the transcripts.",
    "Action items are things that the transcript implies should get done.",
    "Your action item ideas do not make stuff up that isn't relevant to the transcript.",
    "You do not needlessly make up action items - you stick to important tasks.",
    "You are useful, true and concise, and write in perfect English.",
    "Your action items can be tied back to direct quotes in the transcript.",
    "You do not cite the quotes the action items relate to.",
    "The action items are written succinctly.",
    "Please give useful action items based on the transcript.",
]
SEED_ACTION_ITEMS_FORMAT = "Bullet Points"
VTT = ("WEBVTT\n\n00:00.500 --> 00:04.000\nThanks for calling Northwind.\n\n"
       "00:04.200 --> 00:12.000\nMy order never arrived.\n")
FACTS = TranscriptFacts(duration=12.0, text="Thanks for calling Northwind. My order never arrived.")


def seed_questions_prompt(with_answer_format: bool) -> str:
    """seed 002's Step 4 loop: `Question:` / `Context:` / `Answer Format:` blocks joined by blank lines."""
    blocks = []
    for question, context in SEED_QUESTIONS:
        block = f"Question: {question}\nContext: {context}"
        if with_answer_format:
            block += f"\nAnswer Format: {SEED_ANSWER_FORMAT}"
        blocks.append(block)
    return "\n\n".join(blocks)


def seed_guidelines_prompt() -> str:
    return "Here are guidelines to follow:\n" + "\n".join(f"- {g}" for g in SEED_GUIDELINES)


def test_bundled_profiles_are_valid_and_default_asks_the_seeds_questions_leanly():
    assert {"default", "sales", "seeds"} <= set(bundled_profile_names())
    for name in bundled_profile_names():
        assert load_bundled(name).name == name
    default = load_bundled("default")
    # the tutorials' phases and five questions; not their car-specific contexts (profile `seeds` keeps those), and
    # two commitment guidelines instead of the ten generic ones (issue 12: action items are commitments)
    assert default.analysis("phases").phases == SEED_PHASES
    assert [q.question for q in default.analysis("sentiment").questions] == [q for q, _ in SEED_QUESTIONS]
    assert all(q.context is None for q in default.analysis("sentiment").questions)
    assert default.analysis("sentiment").answer_format == SEED_ANSWER_FORMAT
    assert len(default.analysis("action_items").guidelines) == 2 and default.llm.prompt_style == "lean"
    assert default.analysis("action_items").max_tokens == 1000
    assert default.transcription.speech_models == ["universal-3-pro", "universal-2"]
    # combined mode: the three analyses and the categories' question in one request with the compact rendering
    assert analyses_to_run(default) == ["combined"]
    [request] = [build_job(n, default, VTT, FACTS).request for n in analyses_to_run(default)]
    assert request["model"] == SEED_MODEL and request["max_tokens"] == default.llm.combined_max_tokens
    content = request["messages"][0]["content"]
    assert ", ".join(SEED_PHASES) in content and SEED_ANSWER_FORMAT in content
    assert all(f"Question: {q}" in content for q, _ in SEED_QUESTIONS) and content.count("Question: ") == 5
    assert all(g in content for g in default.analysis("action_items").guidelines)
    assert default.check_questions() and all(q in content for q in default.check_questions())


def test_the_seeds_profile_sends_the_seeds_requests():
    seeds = load_bundled("seeds")
    assert seeds.llm.transcript_format == "vtt" and seeds.llm.mode == "separate"
    assert analyses_to_run(seeds) == ["phases", "sentiment", "action_items"]  # three Map items, in parallel
    # the seeds' transcript request: the audio and the speech model, nothing else (API defaults otherwise)
    assert transcript_params(seeds, audio_url="https://a", channels=2) == {
        "audio_url": "https://a", "speech_models": SEED_SPEECH_MODELS, "punctuate": True, "format_text": True}
    requests = {n: build_job(n, seeds, VTT, FACTS).request for n in analyses_to_run(seeds)}
    for name, request in requests.items():
        assert request["model"] == SEED_MODEL and request["max_tokens"] == SEED_MAX_TOKENS[name], name
        assert "fallbacks" not in request and "temperature" not in request  # the seeds send neither
        assert VTT.strip() in request["messages"][0]["content"], name
    phases = requests["phases"]["messages"][0]["content"]
    for text in (SEED_PHASES_TASK, SEED_PHASE_STEPS, SEED_OTHER_RULE, SEED_VTT_NOTE):
        assert text in phases, text
    assert phases.endswith(f"\n\nVTT Transcript:\n{VTT.strip()}")  # seed 000: f"{prompt}\n\nVTT Transcript:\n{vtt}"
    sentiment = requests["sentiment"]["messages"][0]["content"]
    assert sentiment.startswith(SEED_SENTIMENT_INTRO)
    assert f"Transcript:\n{VTT.strip()}\n\nQuestions:\n{seed_questions_prompt(with_answer_format=True)}" in sentiment
    actions = requests["action_items"]["messages"][0]["content"]
    assert actions.startswith(seed_guidelines_prompt())
    assert SEED_ACTION_ITEMS_FORMAT in actions and f"VTT Transcript:\n{VTT.strip()}" in actions


def test_invalid_profile_lists_every_problem():
    data = {"name": "bad", "llm": {"model": "", "transcript_format": "srt"},
            "analyses": {"phases": {"phases": ["Intro", "intro"]}, "sentiment": {"questions": []}},
            "transcription": {"redact_pii": True, "language_code": "en", "language_detection": True}}
    with pytest.raises(InvalidProfile) as info:
        parse_profile(data, source="s3://b/profiles/bad.json")
    message = str(info.value)
    for expected in ("s3://b/profiles/bad.json", "llm.model", "llm.transcript_format", "phase names must be unique",
                     "analyses.sentiment.questions", "either language_code or language_detection"):
        assert expected in message


@pytest.mark.parametrize("fallbacks, message", [
    (["a", "b", "c"], "at most 2 fallback models (the LLM Gateway chains at most 2"),
    (["a", " "], "fallback model names must not be empty"),
    (["a", "a"], "fallback models must be unique"),
    ("claude-haiku-4-5-20251001", "Input should be a valid list"),
])
def test_bad_fallback_models_are_rejected_where_they_are(fallbacks, message):
    for where in ("analysis", "llm"):
        data = json.loads(load_bundled("seeds").model_dump_json())
        section = data["analyses"]["action_items"] if where == "analysis" else data["llm"]
        section["fallback_models"] = fallbacks
        with pytest.raises(InvalidProfile) as info:
            parse_profile(data, source="s3://b/profiles/seeds.json")
        location = "analyses.action_items.fallback_models" if where == "analysis" else "llm.fallback_models"
        assert f"{location}: " in str(info.value) and message in str(info.value), str(info.value)


def test_unknown_keys_and_non_objects_are_rejected():
    with pytest.raises(InvalidProfile, match="Extra inputs are not permitted"):
        parse_profile({"name": "x", "llm": {"model": "m"}, "analyses": {}, "colour": "red"}, source="t")
    with pytest.raises(InvalidProfile, match="expected a JSON object"):
        parse_profile(["x"], source="t")


def test_s3_profile_overrides_bundled_and_bad_json_is_reported():
    custom = json.loads((load_bundled("default").model_dump_json()))
    custom["analyses"]["phases"]["phases"] = ["Hello", "Problem", "Bye"]
    store = FakeProfileStore({"profiles/default.json": json.dumps(custom).encode(), "profiles/broken.json": b"{nope"})
    loader = ProfileLoader(store, "bucket", "profiles/")
    assert loader.load("default").analysis("phases").phases == ["Hello", "Problem", "Bye"]
    assert loader.load("sales").name == "sales"  # bundled fallback
    with pytest.raises(InvalidProfile, match="not valid JSON"):
        loader.load("broken")
    with pytest.raises(InvalidProfile, match="unknown profile 'nosuch'"):
        loader.load("nosuch")


def test_profile_name_must_match_its_file():
    store = FakeProfileStore(
        {"profiles/a.json": json.dumps({"name": "b", "llm": {"model": "m"}, "analyses": {}}).encode()}
    )
    with pytest.raises(InvalidProfile, match="declares name 'b'"):
        ProfileLoader(store, "bucket", "profiles/").load("a")


def test_choose_profile_metadata_then_key_segment_then_default():
    assert choose_profile_name("recordings/profile=sales/a.wav", {"profile": "vip"}, "default") == "vip"
    assert choose_profile_name("recordings/profile=sales/2026/a.wav", {}, "default") == "sales"
    assert choose_profile_name("recordings/a.wav", None, "default") == "default"
    with pytest.raises(InvalidProfile, match="invalid profile name"):
        choose_profile_name("recordings/profile=../etc/a.wav", {}, "default")


def test_transcription_params_for_mono_and_stereo():
    default = load_bundled("default")
    mono = transcript_params(default, audio_url="https://a", channels=1)
    assert mono["speaker_labels"] is True and "multichannel" not in mono
    assert mono["speech_models"] == ["universal-3-pro", "universal-2"] and mono["language_detection"] is True
    stereo = transcript_params(default, audio_url="https://a", channels=2)
    assert stereo["multichannel"] is True and "speaker_labels" not in stereo
    sales = transcript_params(load_bundled("sales"), audio_url="https://a", channels=None)
    assert sales["redact_pii"] is True and sales["redact_pii_policies"][0] == "person_name"
    assert sales["keyterms_prompt"] == ["Northwind Premium", "annual plan", "onboarding call"]
    assert sales["language_code"] == "en_us" and "language_detection" not in sales
