"""The pure turn tracker, driven with lists of server messages: which turns are final (formatted copy
preferred), and the outbox messages (SNS layout, dedup keys per session). No threads, no sockets."""

from __future__ import annotations

import json
from dataclasses import dataclass

from edge_client.messages import parse_message
from edge_client.turns import MESSAGE_SCHEMA, CallIdentity, FinalTurn, OutboxMessage, TurnTracker

CALL = CallIdentity(call_id="call-1", agent_id="pc-7", profile="billing", model="claude-sonnet-4-6",
                    started_at=1_800_000_000.0)


@dataclass
class Session:
    number: int
    id: str | None


class StepClock:
    """Test double for the clock: each reading is one second after the previous."""

    def __init__(self, start: float = 1_800_000_010.0):
        self.now = start - 1

    def __call__(self) -> float:
        self.now += 1
        return self.now


def turn(order: int, text: str, *, end: bool = True, formatted: bool = False, speaker: str | None = None) -> dict:
    return {"type": "Turn", "turn_order": order, "end_of_turn": end, "turn_is_formatted": formatted,
            "transcript": text, "speaker_label": speaker, "words": []}


def llm(order: int, content: str, transcript: str = "") -> dict:
    return {"type": "LLMGatewayResponse", "turn_order": order, "transcript": transcript,
            "data": {"model": "claude-sonnet-4-6-20260101", "choices": [{"message": {"content": content}}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}}


def feed(tracker: TurnTracker, session: Session, messages: list[dict]) -> list:
    events = []
    for m in messages:
        events += tracker.feed(session, parse_message(json.dumps(m)))
    return events


def finals(events) -> list[tuple[int, str, bool]]:
    return [(e.turn_order, e.transcript, e.formatted) for e in events if isinstance(e, FinalTurn)]


def test_the_formatted_copy_of_a_final_turn_is_preferred_and_partials_give_nothing():
    t = TurnTracker(CALL, format_turns=True, clock=StepClock())
    s = Session(1, "s1")
    events = feed(t, s, [{"type": "Begin", "id": "s1"}, turn(0, "hi", end=False), turn(0, "hi tom", end=False),
                         turn(0, "hi tom"), turn(0, "Hi, Tom.", formatted=True), turn(0, "Hi, Tom.", formatted=True)])
    assert finals(events) == [(0, "Hi, Tom.", True)]  # the duplicate formatted copy is ignored
    assert t.turns_final == 1 and list(t.final_turns(s)) == [0]


def test_without_format_turns_the_end_of_turn_message_is_final_at_once():
    t = TurnTracker(CALL, format_turns=False, clock=StepClock())
    events = feed(t, Session(1, "s1"), [turn(0, "hi tom"), turn(0, "Hi, Tom.", formatted=True)])
    assert finals(events) == [(0, "hi tom", False)]


def test_an_unformatted_final_turn_is_used_when_its_formatted_copy_does_not_come():
    t = TurnTracker(CALL, clock=StepClock())
    s = Session(1, "s1")
    # turn 0's formatted copy never comes: the next turn starting makes the unformatted one final
    events = feed(t, s, [turn(0, "hi tom"), turn(1, "my bill", end=False)])
    assert finals(events) == [(0, "hi tom", False)]
    # turn 1 ends unformatted and the session ends before its formatted copy
    assert feed(t, s, [turn(1, "my bill is wrong")]) == []
    assert finals(t.end_session(s)) == [(1, "my bill is wrong", False)]
    assert t.end_session(s) == []  # flushed once


def test_an_llm_response_makes_its_turn_final_first_and_gives_the_sns_message():
    clock = StepClock()
    t = TurnTracker(CALL, clock=clock)
    s = Session(2, "sess-b")
    events = feed(t, s, [turn(3, "the bill is wrong", speaker="B"), llm(3, "The caller disputes the bill.")])
    assert [type(e) for e in events] == [FinalTurn, OutboxMessage]
    final, msg = events
    assert (final.turn_order, final.transcript, final.speaker_label) == (3, "the bill is wrong", "B")
    assert msg.dedup_key == "call-1:sess-b:3" and msg.group_id == "call-1" and msg.turn_order == 3
    assert msg.content == "The caller disputes the bill."
    body = msg.body
    assert body["schema"] == MESSAGE_SCHEMA and body["type"] == "llm_response"
    assert (body["call_id"], body["session_id"], body["session_number"], body["turn_order"]) == \
        ("call-1", "sess-b", 2, 3)
    assert (body["agent_id"], body["profile"], body["transcript"], body["speaker_label"]) == \
        ("pc-7", "billing", "the bill is wrong", "B")
    assert body["llm"] == {"content": "The caller disputes the bill.", "model": "claude-sonnet-4-6",
                           "response_model": "claude-sonnet-4-6-20260101",
                           "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}
    ts = body["timestamps"]
    assert ts["call_started_at"] == "2027-01-15T08:00:00.000+00:00"
    assert ts["turn_final_at"] < ts["llm_received_at"]  # clock readings 1 s apart
    assert msg.attributes == {"type": "llm_response", "call_id": "call-1", "agent_id": "pc-7",
                              "session_id": "sess-b", "turn_order": "3", "profile": "billing",
                              "model": "claude-sonnet-4-6"}
    assert t.llm_responses == 1


def test_an_llm_response_for_an_unknown_turn_uses_its_own_transcript():
    t = TurnTracker(CALL, clock=StepClock())
    [msg] = feed(t, Session(1, "s1"), [llm(5, "An answer.", transcript="late turn")])
    assert msg.body["transcript"] == "late turn" and msg.body["timestamps"]["turn_final_at"] is None


def test_turn_order_restarts_in_a_new_session_and_keys_stay_unique():
    t = TurnTracker(CALL, clock=StepClock())
    first, second = Session(1, "s1"), Session(2, "s2")
    a = feed(t, first, [turn(0, "One.", formatted=True), llm(0, "a"), turn(1, "Two.", formatted=True)])
    b = feed(t, second, [turn(0, "Three.", formatted=True), llm(0, "b")])
    keys = [e.dedup_key for e in a + b if isinstance(e, OutboxMessage)]
    assert keys == ["call-1:s1:0", "call-1:s2:0"]
    assert [ft.transcript for ft in t.final_turns(first).values()] == ["One.", "Two."]
    assert [ft.transcript for ft in t.final_turns(second).values()] == ["Three."]
    assert t.turns_final == 3


def test_session_messages_give_no_events():
    t = TurnTracker(CALL, clock=StepClock())
    msgs = [{"type": "Begin", "id": "s1"}, {"type": "Termination", "audio_duration_seconds": 3},
            {"type": "Error", "error_code": 3005, "error": "x"}, {"type": "SpeakerRevision"}]
    assert feed(t, Session(1, "s1"), msgs) == []
