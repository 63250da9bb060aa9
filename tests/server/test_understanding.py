"""The local server's offline audio intelligence (local_assemblyai/understanding.py), without a server."""

from __future__ import annotations

from local_assemblyai.understanding import apply_understanding, identify_speakers, sentence_sentiments


def words(*turns):
    out, t = [], 0
    for speaker, text in turns:
        for token in text.split():
            out.append({"text": token, "start": t, "end": t + 300, "confidence": 0.9, "speaker": speaker,
                        "channel": None})
            t += 320
        t += 700
    return out


CALL = words(("A", "Hi, I'm calling about my bill."),
             ("B", "Thank you for calling Northwind, this is Dana speaking. How can I help?"),
             ("A", "This is terrible, I was charged twice and I am really angry."),
             ("B", "I am so sorry. I will refund it today, that is great news for you."))


def test_one_sentiment_per_sentence_with_speaker_and_times():
    results = sentence_sentiments(CALL)
    assert [r["speaker"] for r in results] == ["A", "B", "B", "A", "B", "B"]
    by_text = {r["text"]: r["sentiment"] for r in results}
    assert by_text["This is terrible, I was charged twice and I am really angry."] == "NEGATIVE"
    assert by_text["I will refund it today, that is great news for you."] == "POSITIVE"
    assert all(r["start"] < r["end"] and 0 <= r["confidence"] <= 1 for r in results)


def test_speaker_identification_by_role_finds_the_agent_even_when_the_customer_speaks_first():
    assert identify_speakers(CALL, {"speaker_type": "role", "known_values": ["Agent", "Customer"]}) == {
        "B": "Agent", "A": "Customer"}


def test_speaker_identification_by_name_uses_self_introductions_only():
    mapping = identify_speakers(CALL, {"speaker_type": "name", "known_values": ["Dana Scully", "Robert"]})
    assert mapping == {"B": "Dana Scully"}  # nobody introduced themselves as Robert


def test_apply_relabels_words_and_echoes_the_response():
    params = {"speech_understanding": {"request": {"speaker_identification": {
        "speaker_type": "role", "known_values": ["Agent", "Customer"]}}}}
    relabelled, echo = apply_understanding(CALL, params)
    assert {w["speaker"] for w in relabelled} == {"Agent", "Customer"}
    assert echo["response"]["speaker_identification"] == {"status": "success",
                                                          "mapping": {"B": "Agent", "A": "Customer"}}
    unchanged, none = apply_understanding(CALL, {})
    assert unchanged == CALL and none is None
