"""The official SDK (assemblyai==1.8.2) as the conformance client: transcription, captions, gateway."""

from __future__ import annotations

import itertools
import json
import re

import assemblyai as aai
import jiwer
import pytest

from samples.textnorm import normalize

REF_SCHEMA_PHASES = {"type": "object", "properties": {"phases": {"type": "array", "items": {
    "type": "object", "required": ["name", "start_time", "end_time", "summary"],
    "properties": {"name": {"type": "string", "enum": ["Introduction", "Complaint", "Resolution", "Goodbye", "Other"]},
                   "start_time": {"type": "number"}, "end_time": {"type": "number"},
                   "summary": {"type": "string"}}}}}}


@pytest.fixture(scope="module")
def sdk(server):
    aai.settings.api_key = server.api_key
    aai.settings.base_url = server.base_url
    aai.settings.llm_gateway_base_url = server.base_url
    aai.settings.polling_interval = 0.1
    return aai


def _wer(hyp: str, ref: str) -> float:
    return jiwer.wer(normalize(ref), normalize(hyp))


@pytest.fixture(scope="module")
def northwind_mono(sdk, samples_dir):
    cfg = aai.TranscriptionConfig(speaker_labels=True, speech_models=["universal-3-pro", "universal-2"])
    return sdk.Transcriber(config=cfg).transcribe(str(samples_dir / "northwind_outage_refund" / "mono.wav"))


def test_transcribe_wav_gives_text_words_and_diarized_utterances(northwind_mono, truth):
    t = northwind_mono
    ref = truth("northwind_outage_refund")
    assert t.status == aai.TranscriptStatus.completed, t.error
    assert _wer(t.text, " ".join(u["text"] for u in ref["utterances"])) < 0.20
    assert t.audio_duration == round(ref["duration"]) and isinstance(t.audio_duration, int)
    assert t.speech_model_used == "universal-3-pro" and t.json_response["speech_model"] is None
    assert all(isinstance(w.start, int) and isinstance(w.end, int) and w.start <= w.end for w in t.words)
    assert [w.start for w in t.words] == sorted(w.start for w in t.words)
    # mono diarization: the agent speaks first and the voices alternate like the script
    speakers = [u.speaker for u in t.utterances]
    assert set(speakers) == {"A", "B"} and speakers[0] == "A"
    agent_text = " ".join(u.text for u in t.utterances if u.speaker == "A").lower()
    assert "northwind" in agent_text.replace(" ", "") and "refund" in agent_text
    customer_text = " ".join(u.text for u in t.utterances if u.speaker == "B").lower()
    assert "david miller" in customer_text
    # utterance texts are exact substrings of the transcript text
    assert all(u.text in t.text for u in t.utterances)


def test_transcribe_mp3(sdk, samples_dir, truth):
    cfg = aai.TranscriptionConfig(speech_models=["universal-2"])
    t = sdk.Transcriber(config=cfg).transcribe(str(samples_dir / "fabrikam_billing_question" / "mono.mp3"))
    ref = truth("fabrikam_billing_question")
    assert t.status == aai.TranscriptStatus.completed, t.error
    assert _wer(t.text, " ".join(u["text"] for u in ref["utterances"])) < 0.30
    assert t.words and t.words[0].speaker is None and t.utterances is None  # no speaker features requested
    assert "photo" in t.text.lower()


def test_stereo_multichannel_assigns_speakers_by_channel(sdk, samples_dir, truth):
    cfg = aai.TranscriptionConfig(multichannel=True, speech_models=["universal-3-pro"])
    t = sdk.Transcriber(config=cfg).transcribe(str(samples_dir / "northwind_outage_refund" / "stereo.wav"))
    ref = truth("northwind_outage_refund")
    assert t.status == aai.TranscriptStatus.completed, t.error
    assert t.json_response["audio_channels"] == 2
    by_channel = {u.channel for u in t.utterances}
    assert by_channel == {"1", "2"}
    # agent = left = channel 1 = "A", first; customer = right = "B"
    assert t.utterances[0].speaker == "A" and t.utterances[0].channel == "1"
    agent_ref = " ".join(u["text"] for u in ref["utterances"] if u["speaker"] == "agent")
    customer_ref = " ".join(u["text"] for u in ref["utterances"] if u["speaker"] == "customer")
    agent_hyp = " ".join(w.text for w in t.words if w.speaker == "A")
    customer_hyp = " ".join(w.text for w in t.words if w.speaker == "B")
    assert _wer(agent_hyp, agent_ref) < 0.20 and _wer(customer_hyp, customer_ref) < 0.20
    # speaker order of the first four utterances matches the script
    assert [u.speaker for u in t.utterances[:4]] == ["A", "B", "A", "B"]


def test_subtitles_vtt_and_srt(northwind_mono):
    vtt = northwind_mono.export_subtitles_vtt(chars_per_caption=32)
    assert vtt.startswith("WEBVTT\n\n")
    cues = re.findall(r"(\d\d:\d\d\.\d{3}) --> (\d\d:\d\d\.\d{3})\n(.+)\n", vtt)
    assert len(cues) > 20
    for _, _, text in cues:
        assert len(text) <= 32 or " " not in text
    srt = northwind_mono.export_subtitles_srt()
    blocks = srt.strip().split("\n\n")
    assert blocks[0].startswith("1\n00:00:0") and " --> " in blocks[0]
    assert [int(b.split("\n")[0]) for b in blocks] == list(range(1, len(blocks) + 1))
    assert srt.endswith("\n") and not srt.endswith("\n\n")


def test_sentences_paragraphs_and_word_search(northwind_mono):
    sentences = northwind_mono.get_sentences()
    assert len(sentences) > 25
    assert all(s.text in northwind_mono.text and s.words for s in sentences)
    assert sentences[0].speaker == "A"
    paragraphs = northwind_mono.get_paragraphs()
    assert 5 < len(paragraphs) < len(sentences)
    matches = northwind_mono.word_search(["refund"])
    assert matches[0].count >= 1 and matches[0].timestamps[0][0] > 60_000


def test_list_get_and_delete(sdk, server, northwind_mono, samples_dir):
    page = sdk.Transcriber().list_transcripts()
    assert page.page_details.result_count == len(page.transcripts) >= 1
    assert northwind_mono.id in [t.id for t in page.transcripts]
    fetched = aai.Transcript.get_by_id(northwind_mono.id)
    assert fetched.text == northwind_mono.text
    cfg = aai.TranscriptionConfig(speech_models=["universal-2"])
    doomed = sdk.Transcriber(config=cfg).transcribe(str(samples_dir / "_errors" / "silence.wav"))
    deleted = aai.Transcript.delete_by_id(doomed.id)
    assert deleted.text == "Deleted by user." and deleted.audio_url == "http://deleted_by_user"


def test_llm_gateway_with_transcript_id_through_sdk(sdk, northwind_mono):
    gateway = sdk.LLMGateway()
    completion = gateway.chat.completions.create(
        model="claude-sonnet-4-5-20250929", max_tokens=1000, transcript_id=northwind_mono.id,
        messages=[{"role": "user", "content": "Summarise this call in two sentences.\n\n{{ transcript }}"}])
    content = completion.choices[0].message.content
    # a summary request: a short summary in the third person, not the labelled extractive fallback
    assert not content.startswith("[offline extractive answer]") and content.startswith("The customer called")
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert completion.usage.prompt_tokens > len(northwind_mono.text) // 5  # the transcript was injected
    assert completion.choices[0].index == 0 and completion.request_id


def test_structured_phases_through_sdk(sdk, northwind_mono):
    vtt = northwind_mono.export_subtitles_vtt()
    completion = sdk.LLMGateway().chat.completions.create(
        model="gpt-4.1",
        messages=[{"role": "user", "content": f"Split the call into phases.\n\nVTT Transcript:\n{vtt}"}],
        response_format={"type": "json_schema", "json_schema": {"name": "call_phases", "schema": REF_SCHEMA_PHASES,
                                                                  "strict": True}})
    phases = json.loads(completion.choices[0].message.content)["phases"]
    assert [p["name"] for p in phases] == ["Introduction", "Complaint", "Resolution", "Goodbye"]
    for a, b in itertools.pairwise(phases):
        assert a["end_time"] == b["start_time"]
    assert phases[0]["start_time"] <= northwind_mono.words[0].start / 1000 + 0.01
    assert phases[-1]["end_time"] >= northwind_mono.words[-1].end / 1000 - 0.01
    assert all(p["summary"] for p in phases)


def test_models_list_through_sdk(sdk):
    ids = [m.id for m in sdk.LLMGateway().models.list().data]
    assert "claude-sonnet-4-5-20250929" in ids and "gpt-4.1" in ids


def test_llm_stream_through_sdk(sdk, northwind_mono):
    chunks = list(sdk.LLMGateway().chat.completions.create(
        model="gpt-4.1", stream=True, transcript_id=northwind_mono.id,
        messages=[{"role": "user", "content": "What did the agent promise? {{ transcript }}"}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("[offline extractive answer]") and len(text) > 40
    assert chunks[-1].choices[0].finish_reason == "stop"
