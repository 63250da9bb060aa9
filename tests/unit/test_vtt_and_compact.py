"""VTT parsing in every shape AssemblyAI (or W3C) may serve, and the compact rendering."""

from __future__ import annotations

import pytest
from call_analytics.compact import COMPACT_HEADER, render_compact
from call_analytics.vtt import VttError, parse_vtt
from unit_fakes import completed_transcript


def test_doc_example_without_blank_lines_and_mm_ss():
    cues = parse_vtt("WEBVTT\n00:12.340 --> 00:16.220\nLast year I showed these two slides\n"
                     "00:16.200 --> 00:20.040\nthat the Arctic ice cap\n")
    assert [(c.start, c.end, c.text) for c in cues] == [
        (12.34, 16.22, "Last year I showed these two slides"),
        (16.2, 20.04, "that the Arctic ice cap"),
    ]


def test_hours_blank_lines_crlf_cue_ids_and_settings():
    text = ("WEBVTT\r\n\r\n1\r\n01:00:12.340 --> 01:00:16.220 align:start\r\nHello there\r\nsecond line\r\n\r\n"
            "cue-2\r\n01:00:16.200 --> 01:00:20.040\r\nBye\r\n")
    cues = parse_vtt(text)
    assert [(c.cue_id, c.start, c.end, c.text) for c in cues] == [
        ("1", 3612.34, 3616.22, "Hello there second line"),
        ("cue-2", 3616.2, 3620.04, "Bye"),
    ]


def test_numeric_cue_ids_without_blank_lines_are_not_text():
    cues = parse_vtt("WEBVTT\n1\n00:01.000 --> 00:02.000\nHello\n2\n00:02.000 --> 00:03.500\nWorld\n")
    assert [(c.cue_id, c.text) for c in cues] == [("1", "Hello"), ("2", "World")]


def test_note_blocks_are_ignored_and_bom_accepted():
    cues = parse_vtt("\ufeffWEBVTT - call\n\nNOTE produced by test\nsecond note line\n\n00:00.500 --> 00:01.000\nHi\n")
    assert [(c.start, c.text) for c in cues] == [(0.5, "Hi")]


def test_missing_header_is_rejected():
    with pytest.raises(VttError):
        parse_vtt("00:00.500 --> 00:01.000\nHi\n")


def test_empty_vtt_has_no_cues():
    assert parse_vtt("WEBVTT\n\n") == []


def test_compact_from_utterances():
    text = render_compact(completed_transcript(utterances=[(12.4, 17.94, "A", "Thanks for calling Northwind."),
                                                            (18.0, 20.0, "B", "Hi.")]))
    # start seconds only (a turn ends where the next starts), rounded down: the lean rendering (issue 13)
    assert text.splitlines() == [COMPACT_HEADER, "[12] A: Thanks for calling Northwind.", "[18] B: Hi."]


def test_compact_uses_channel_names_for_multichannel():
    transcript = {"utterances": [{"start": 0, "end": 1500, "speaker": None, "channel": "1", "text": "Hello."},
                                 {"start": 1600, "end": 2500, "speaker": None, "channel": "2", "text": "Hi."}]}
    lines = render_compact(transcript, {"1": "Agent"}).splitlines()[1:]
    assert lines == ["[0] Agent: Hello.", "[1] Channel 2: Hi."]


def test_compact_groups_words_into_sentences_without_utterances():
    words = [{"text": t, "start": s, "end": s + 300, "speaker": None} for t, s in
             [("Hello", 0), ("there.", 400), ("How", 800), ("are", 1200), ("you?", 1600), ("Fine", 5000)]]
    lines = render_compact({"words": words, "utterances": None}).splitlines()[1:]
    assert lines == ["[0] Speaker: Hello there.", "[0] Speaker: How are you?", "[5] Speaker: Fine"]


def test_compact_labels_speakers_with_their_roles():
    from call_analytics.conversation.roles import RoleMap

    transcript = completed_transcript(utterances=[(0.5, 3.0, "A", "Hello?"), (3.2, 6.0, "B", "Thanks for calling."),
                                                  (6.2, 8.0, "C", "Hi, supervisor here.")])
    roles = RoleMap("heuristic", {"A": "customer", "B": "agent"})
    assert render_compact(transcript, None, roles).splitlines()[1:] == [
        "[0] Customer: Hello?", "[3] Agent: Thanks for calling.", "[6] C: Hi, supervisor here."]


def test_the_local_server_reads_the_compact_rendering_back():
    """The two products meet here: what functions/ renders, local_assemblyai parses (times, speakers, text)."""
    from local_assemblyai.transcript_parse import parse_transcript

    transcript = completed_transcript(utterances=[(0.5, 4.0, "A", "Thanks for calling."), (4.2, 9.0, "B", "Hi: me.")])
    lines = parse_transcript(render_compact(transcript))
    assert [(ln.start, ln.end, ln.speaker, ln.text) for ln in lines] == [
        (0.0, 4.0, "A", "Thanks for calling."), (4.0, 5.0, "B", "Hi: me.")]
