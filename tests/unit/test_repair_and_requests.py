"""Chat requests per analysis (schema names/enums, models, fallbacks) and the validate -> repair flow."""

from __future__ import annotations

import json

from call_analytics.analyses.catalog import analyses_to_run, build_job
from call_analytics.analyses.runner import run_job
from call_analytics.analyses.validation import TranscriptFacts
from call_analytics.compact import COMPACT_HEADER
from call_analytics.profiles.loader import load_bundled
from call_analytics.profiles.model import parse_profile
from unit_fakes import chat_response

RENDERING = (f"{COMPACT_HEADER}\n[0] A: Thanks for calling Northwind, this is Dana.\n"
             "[4] B: My order never arrived.\n")
FACTS = TranscriptFacts(duration=12.0, text="Thanks for calling Northwind, this is Dana. My order never arrived.")
GOOD_PHASES = json.dumps({"phases": [{"name": "Introduction", "start_time": 0, "end_time": 4, "summary": "hi"},
                                     {"name": "Complaint", "start_time": 4, "end_time": 12, "summary": "late order"}]})


class ScriptedLlmDouble:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def __call__(self, request):
        self.requests.append(json.loads(json.dumps(request)))
        answer = self.answers.pop(0)
        return answer if isinstance(answer, dict) else chat_response(answer)


def test_phases_request_matches_the_contract():
    profile = load_bundled("default")
    job = build_job("phases", profile, RENDERING, FACTS)
    request = job.request
    assert request["model"] == "claude-sonnet-4-5-20250929" and request["max_tokens"] == 2000
    assert request["response_format"]["type"] == "json_schema"
    schema = request["response_format"]["json_schema"]
    assert schema["name"] == "call_phases" and schema["strict"] is True
    enum = schema["schema"]["properties"]["phases"]["items"]["properties"]["name"]["enum"]
    assert enum == ["Introduction", "Complaint", "Resolution", "Goodbye", "Other"]
    assert request["fallbacks"] == [{"model": "claude-sonnet-4-20250514"}]
    content = request["messages"][0]["content"]
    assert content.startswith("Divide the phone call into these phases: Introduction, Complaint, Resolution, Goodbye.")
    assert content.rstrip().endswith("[4] B: My order never arrived.")


def test_per_analysis_fallback_models_override_the_profile_in_separate_mode():
    data = json.loads(load_bundled("default").model_dump_json())
    data["llm"]["mode"] = "separate"
    data["analyses"]["sentiment"]["fallback_models"] = ["claude-haiku-4-5-20251001", "claude-sonnet-4-6"]
    data["analyses"]["action_items"]["fallback_models"] = []  # none for this analysis
    profile = parse_profile(data, source="t")
    assert profile.analysis("phases").fallback_models is None  # not set: the profile's
    requests = {n: build_job(n, profile, RENDERING, FACTS).request for n in analyses_to_run(profile)}
    assert requests["phases"]["fallbacks"] == [{"model": "claude-sonnet-4-20250514"}]
    assert requests["sentiment"]["fallbacks"] == [{"model": "claude-haiku-4-5-20251001"},
                                                  {"model": "claude-sonnet-4-6"}]
    assert requests["sentiment"]["fallback_config"] == {"depth": 2}
    assert "fallbacks" not in requests["action_items"] and "fallback_config" not in requests["action_items"]
    # an analysis model that is also in its fallback list is not its own fallback
    data["analyses"]["sentiment"]["model"] = "claude-sonnet-4-6"
    sentiment = build_job("sentiment", parse_profile(data, source="t"), RENDERING, FACTS).request
    assert sentiment["model"] == "claude-sonnet-4-6"
    assert sentiment["fallbacks"] == [{"model": "claude-haiku-4-5-20251001"}]
    # combined mode: one request, the profile's fallbacks (like its model and combined_max_tokens)
    data["llm"]["mode"] = "combined"
    combined = build_job("combined", parse_profile(data, source="t"), RENDERING, FACTS).request
    assert combined["fallbacks"] == [{"model": "claude-sonnet-4-20250514"}]


def test_sentiment_and_action_items_requests_carry_the_seeds_content_once():
    seeds = load_bundled("seeds")  # the tutorials' questions, contexts and guidelines, literally
    sentiment = build_job("sentiment", seeds, RENDERING, FACTS).request
    schema = sentiment["response_format"]["json_schema"]
    assert schema["name"] == "call_sentiment" and sentiment["max_tokens"] == 2000
    questions = schema["schema"]["properties"]["answers"]["items"]["properties"]["question"]["enum"]
    assert questions[0] == "What was the overall sentiment of the call?" and len(questions) == 5
    content = sentiment["messages"][0]["content"]
    assert "Context: The agent is trying to get the customer to go through with the update to their car." in content
    # the tutorial gives every question its answer format: so does this profile, in every block
    assert content.count("Answer Format: <answer in one sentence> <reason in one sentence>") == 5
    assert content.count("Question: ") == 5 and "verbatim quote" in content
    actions = build_job("action_items", seeds, RENDERING, FACTS).request
    assert actions["response_format"]["json_schema"]["name"] == "call_action_items" and actions["max_tokens"] == 1000
    content = actions["messages"][0]["content"]
    assert "- Action items are things that the transcript implies should get done." in content
    assert "- Please give useful action items based on the transcript." in content
    assert "Each action item should follow this format: Bullet Points" in content


def test_the_lean_style_states_a_shared_context_once():
    seeds = load_bundled("seeds")
    lean = seeds.model_copy(update={"llm": seeds.llm.model_copy(update={"prompt_style": "lean"})})
    content = build_job("sentiment", lean, RENDERING, FACTS).request["messages"][0]["content"]
    assert content.count("The agent is trying to get the customer to go through with the update to their car.") == 1
    assert content.count("The customer is calling to check how much it would cost to update the map") == 1
    assert "Question: What was the sentiment of the agent in this call? (Context " in content
    assert content.count("Question: ") == 5


def test_every_request_gets_the_one_lean_rendering():
    profile = load_bundled("default")
    for name in ("phases", "sentiment", "action_items", "combined"):
        content = build_job(name, profile, RENDERING, FACTS).request["messages"][0]["content"]
        assert content.count(COMPACT_HEADER) == 1 and "[4] B: My order never arrived." in content, name


def test_prompts_state_the_instructions_once_and_leave_the_structure_to_the_schema():
    profile = load_bundled("default")
    for name in ("phases", "combined"):
        content = build_job(name, profile, RENDERING, FACTS).request["messages"][0]["content"]
        assert "these phases: Introduction, Complaint, Resolution, Goodbye." in content
        assert 'use "Other" for parts that fit no phase' in content and "without overlaps" in content
        assert "start and end time (seconds)" in content
    combined = build_job("combined", profile, RENDERING, FACTS).request["messages"][0]["content"]
    assert 'Task 2 (key "answers")' in combined and 'Task 3 (key "action_items")' in combined
    assert 'Task 4 (key "checks")' in combined and "Did the customer ask to speak to a supervisor" in combined
    for name in ("phases", "sentiment", "action_items", "combined"):
        content = build_job(name, profile, RENDERING, FACTS).request["messages"][0]["content"]
        # no JSON skeletons and no "JSON only" line: the strict json_schema already says both
        assert "Format your response as a JSON object" not in content and "{" not in content
        assert "Reply with the JSON object only" not in content
        # the compact header explains the lines; no second description of the format
        assert "You will be given the transcript" not in content


def test_a_question_with_its_own_answer_format_keeps_it_in_its_block():
    sales = load_bundled("sales")
    content = build_job("sentiment", sales, RENDERING, FACTS).request["messages"][0]["content"]
    assert "Answer Format (unless a question gives its own): <answer in one sentence> <reason in one sentence>" \
        in content
    assert ("Question: Did the agent secure a concrete next step?\n"
            "Answer Format: <yes or no> <what was agreed>") in content
    assert content.count("Answer Format") == 2


def test_vtt_format_puts_the_vtt_in_the_message():
    profile = load_bundled("default").model_copy(
        update={"llm": load_bundled("default").llm.model_copy(update={"transcript_format": "vtt"})})
    vtt = "WEBVTT\n\n00:00.500 --> 00:04.000\nThanks for calling\n"
    content = build_job("phases", profile, vtt, FACTS).request["messages"][0]["content"]
    assert "VTT Transcript:\nWEBVTT\n\n00:00.500 --> 00:04.000" in content
    assert "in the format of VTT captions" in content
    for name in ("sentiment", "action_items", "combined"):  # the VTT as is, for every request
        content = build_job(name, profile, vtt, FACTS).request["messages"][0]["content"]
        assert "WEBVTT\n\n00:00.500 --> 00:04.000\nThanks for calling" in content
        assert content.count("in the format of VTT captions") == 1


def test_combined_mode_is_one_request_with_all_keys():
    assert analyses_to_run(load_bundled("default")) == ["combined"]  # the bundled default: one request per call
    profile = load_bundled("sales")
    assert analyses_to_run(profile) == ["combined"]
    job = build_job("combined", profile, RENDERING, FACTS)
    schema = job.request["response_format"]["json_schema"]
    assert schema["name"] == "call_analysis"
    assert set(schema["schema"]["properties"]) == {"phases", "answers", "action_items"}
    assert job.request["max_tokens"] == 4000 and job.sections == ("phases", "sentiment", "action_items")


def test_valid_first_answer_needs_no_repair():
    llm = ScriptedLlmDouble(GOOD_PHASES)
    outcome = run_job(build_job("phases", load_bundled("default"), RENDERING, FACTS), llm)
    assert outcome.valid and len(llm.requests) == 1
    assert outcome.usage == {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}


def test_invalid_then_valid_is_repaired_with_the_errors_sent_back():
    llm = ScriptedLlmDouble("Sorry, I cannot format this as JSON.", GOOD_PHASES)
    outcome = run_job(build_job("phases", load_bundled("default"), RENDERING, FACTS), llm, repair_attempts=1)
    assert outcome.valid and outcome.sections["phases"].attempt == 2
    repair = llm.requests[1]["messages"]
    assert [m["role"] for m in repair] == ["user", "assistant", "user"]
    assert repair[1]["content"] == "Sorry, I cannot format this as JSON."
    assert "no JSON object found" in repair[2]["content"]
    assert repair[0] == llm.requests[0]["messages"][0]
    assert llm.requests[1]["response_format"] == llm.requests[0]["response_format"]
    assert outcome.usage["total_tokens"] == 300


def test_both_invalid_keeps_raw_output_and_errors():
    llm = ScriptedLlmDouble('{"phases": "none"}', '{"segments": []}')
    outcome = run_job(build_job("phases", load_bundled("default"), RENDERING, FACTS), llm, repair_attempts=1)
    assert not outcome.valid and len(llm.requests) == 2
    section = outcome.sections["phases"]
    assert section.result is None and section.errors
    assert [a.raw for a in outcome.attempts] == ['{"phases": "none"}', '{"segments": []}']


def test_truncated_answer_tells_the_model_why():
    llm = ScriptedLlmDouble(chat_response('{"phases": [{"name": "Intro', finish_reason="length"), GOOD_PHASES)
    outcome = run_job(build_job("phases", load_bundled("default"), RENDERING, FACTS), llm)
    assert outcome.valid
    assert "cut off at max_tokens" in llm.requests[1]["messages"][2]["content"]


def test_combined_keeps_the_first_valid_answer_per_section():
    good_sentiment = [{"question": q, "answer": "Neutral.", "reason": "r", "quote": "this is Dana"}
                      for q in ["How interested was the prospect in buying?",
                                "Which objection did the prospect raise most strongly?",
                                "Did the agent secure a concrete next step?"]]
    first = json.dumps({"phases": [{"name": "Opening", "start_time": 0, "end_time": 12, "summary": ""}],
                        "answers": [], "action_items": []})
    second = json.dumps({"phases": "broken", "answers": good_sentiment, "action_items": []})
    llm = ScriptedLlmDouble(first, second)
    outcome = run_job(build_job("combined", load_bundled("sales"), RENDERING, FACTS), llm)
    assert outcome.valid
    assert outcome.sections["phases"].attempt == 1 and outcome.sections["sentiment"].attempt == 2
