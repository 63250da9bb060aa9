"""Phases: tolerant parsing and normalisation into a complete, ordered timeline."""

from __future__ import annotations

import json

from call_analytics.analyses.phases import validate_phases
from call_analytics.analyses.validation import TranscriptFacts

NAMES = ["Introduction", "Complaint", "Resolution", "Goodbye", "Other"]
FACTS = TranscriptFacts(duration=235.8, text="")

SEED_OUTPUT = {"phases": [
    {"name": "Introduction", "start_time": 1.52, "end_time": 15.57, "summary": "Greeting."},
    {"name": "Complaint", "start_time": 15.57, "end_time": 59.41, "summary": "Order id."},
    {"name": "Resolution", "start_time": 59.41, "end_time": 210.01, "summary": "Refund timeline."},
    {"name": "Goodbye", "start_time": 210.01, "end_time": 235.8, "summary": "Farewell."},
]}


def spans(validation):
    return [(p["name"], p["start_time"], p["end_time"]) for p in validation.result["phases"]]


def test_seed_output_is_valid_and_starts_at_zero():
    v = validate_phases(json.dumps(SEED_OUTPUT), NAMES, FACTS)
    assert v.valid and v.issues == []
    assert spans(v) == [("Introduction", 0.0, 15.57), ("Complaint", 15.57, 59.41),
                        ("Resolution", 59.41, 210.01), ("Goodbye", 210.01, 235.8)]


def test_code_fence_with_prose_and_trailing_commas():
    raw = ("Here is the segmentation you asked for:\n```json\n"
           '{"phases": [{"name": "Introduction", "start_time": 0, "end_time": 10, "summary": "hi",},'
           '{"name": "Goodbye", "start_time": 10, "end_time": 235.8, "summary": "bye"},],}\n```\nLet me know!')
    v = validate_phases(raw, NAMES, FACTS)
    assert v.valid
    assert spans(v) == [("Introduction", 0.0, 10.0), ("Goodbye", 10.0, 235.8)]


def test_wrong_names_map_to_other_and_keep_the_original():
    raw = json.dumps({"phases": [{"name": "greeting", "start_time": 0, "end_time": 20, "summary": "x"},
                                 {"name": "complaint", "start_time": 20, "end_time": 235.8, "summary": "y"}]})
    v = validate_phases(raw, NAMES, FACTS)
    assert v.valid
    assert spans(v) == [("Other", 0.0, 20.0), ("Complaint", 20.0, 235.8)]
    assert v.result["phases"][0]["original_name"] == "greeting"
    assert any("unknown phase name 'greeting'" in i for i in v.issues)


def test_out_of_order_overlapping_gaps_and_beyond_duration():
    raw = json.dumps({"phases": [
        {"name": "Resolution", "start_time": 100, "end_time": 150, "summary": "r"},
        {"name": "Introduction", "start_time": 0, "end_time": 30, "summary": "i"},
        {"name": "Complaint", "start_time": 25, "end_time": 60, "summary": "c"},   # overlaps Introduction
        {"name": "Goodbye", "start_time": 200, "end_time": 400, "summary": "g"},   # past the end
        {"name": "Other", "start_time": 300, "end_time": 310, "summary": "late"},  # starts after the end
    ]})
    v = validate_phases(raw, NAMES, FACTS)
    assert v.valid
    assert spans(v) == [("Introduction", 0.0, 30.0), ("Complaint", 30.0, 60.0), ("Other", 60.0, 100.0),
                        ("Resolution", 100.0, 150.0), ("Other", 150.0, 200.0), ("Goodbye", 200.0, 235.8)]
    joined = " | ".join(v.issues)
    for expected in ("sorted by start_time", "overlapped Introduction", "gap 60-100s", "clamped to the audio",
                     "starts after the end"):
        assert expected in joined


def test_small_gaps_are_absorbed_and_trailing_gap_filled():
    raw = json.dumps({"phases": [{"name": "Introduction", "start_time": 1, "end_time": 10, "summary": ""},
                                 {"name": "Complaint", "start_time": 11, "end_time": 100, "summary": ""}]})
    v = validate_phases(raw, NAMES, FACTS, gap_tolerance=2.0)
    assert spans(v) == [("Introduction", 0.0, 11.0), ("Complaint", 11.0, 100.0), ("Other", 100.0, 235.8)]


def test_reversed_times_swapped_and_string_times_read():
    raw = json.dumps({"phases": [{"name": "Introduction", "start_time": "00:20.0", "end_time": "0", "summary": ""},
                                 {"name": "Goodbye", "start_time": "20s", "end_time": "03:55.8", "summary": ""}]})
    v = validate_phases(raw, NAMES, FACTS)
    assert spans(v) == [("Introduction", 0.0, 20.0), ("Goodbye", 20.0, 235.8)]
    assert any("swapped" in i for i in v.issues)


def test_missing_fields_drop_the_phase_but_one_good_phase_is_enough():
    raw = json.dumps({"phases": [{"name": "Introduction", "summary": "no times"},
                                 {"name": "Complaint", "start_time": 0, "end_time": 235.8, "summary": "all"}]})
    v = validate_phases(raw, NAMES, FACTS)
    assert v.valid and spans(v) == [("Complaint", 0.0, 235.8)]
    assert any("missing or unreadable start_time" in i for i in v.issues)


def test_unusable_answers_are_errors():
    assert validate_phases("I could not segment this call.", NAMES, FACTS).errors == [
        "phases: no JSON object found in the answer"]
    assert not validate_phases('{"segments": []}', NAMES, FACTS).valid
    assert not validate_phases('{"phases": [{"name": "Introduction"}]}', NAMES, FACTS).valid
    assert not validate_phases("", NAMES, FACTS).valid


def test_bare_list_and_unknown_duration():
    raw = json.dumps([{"name": "Introduction", "start_time": 0, "end_time": 10, "summary": ""}])
    v = validate_phases(raw, NAMES, TranscriptFacts(duration=None, text=""))
    assert spans(v) == [("Introduction", 0.0, 10.0)]
