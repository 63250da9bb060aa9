"""Turn tracking, pure: parsed `Turn` / `LLMGatewayResponse` messages in, final turns and outbox
messages (the SNS layout) out. No threads, no sockets, no clock of its own (`clock` is injected).

A turn is final at its `end_of_turn` message; with `format_turns` the formatted copy that follows is
preferred, and an unformatted final turn is only used when its formatted copy does not come (a later
turn starts, its LLM answer arrives, or the session ends). Everything is keyed by
`(call_id, session_id, turn_order)`: `turn_order` restarts at 0 in every session.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from .messages import LLMGatewayResponse, Turn

MESSAGE_SCHEMA = "edge.llm_response.v1"


def utc_iso(ts: float | None = None) -> str:
    return datetime.fromtimestamp(ts if ts is not None else time.time(), UTC).isoformat(timespec="milliseconds")


class SessionRef(Protocol):
    """What the tracker needs to know of a streaming session (the transport's SessionState has it)."""

    number: int
    id: str | None


@dataclass(frozen=True)
class CallIdentity:
    """Fields every message of a call carries."""

    call_id: str
    agent_id: str
    profile: str
    model: str                 # the requested LLM model
    started_at: float          # epoch seconds


@dataclass(frozen=True)
class FinalTurn:
    session_number: int
    turn_order: int
    transcript: str
    formatted: bool
    final_at: float
    speaker_label: str | None = None


@dataclass(frozen=True)
class OutboxMessage:
    """One LLM response as it goes to the outbox (and from there to SNS)."""

    dedup_key: str
    body: dict[str, Any]
    attributes: dict[str, str]
    group_id: str
    turn_order: int
    content: str


Event = FinalTurn | OutboxMessage


@dataclass
class _SessionTurns:
    final: dict[int, FinalTurn] = field(default_factory=dict)
    pending_unformatted: dict[int, Turn] = field(default_factory=dict)


def session_id_of(session: SessionRef) -> str:
    return session.id or f"unknown-{session.number}"  # no Begin seen (should not happen)


def llm_message(call: CallIdentity, session: SessionRef, m: LLMGatewayResponse, turn: FinalTurn | None,
                received_at: float) -> OutboxMessage:
    """The SNS message layout (docs/edge-client.md, "SNS message schema")."""
    session_id = session_id_of(session)
    dedup_key = f"{call.call_id}:{session_id}:{m.turn_order}"
    body = {
        "schema": MESSAGE_SCHEMA, "type": "llm_response", "dedup_key": dedup_key,
        "call_id": call.call_id, "session_id": session_id, "session_number": session.number,
        "turn_order": m.turn_order, "agent_id": call.agent_id, "profile": call.profile,
        "transcript": turn.transcript if turn else m.transcript,
        "speaker_label": turn.speaker_label if turn else None,
        "llm": {"content": m.content, "model": call.model, "response_model": m.model,
                "usage": m.data.get("usage") if isinstance(m.data, dict) else None},
        "timestamps": {"call_started_at": utc_iso(call.started_at),
                       "turn_final_at": utc_iso(turn.final_at) if turn else None,
                       "llm_received_at": utc_iso(received_at)},
    }
    attributes = {"type": "llm_response", "call_id": call.call_id, "agent_id": call.agent_id,
                  "session_id": session_id, "turn_order": str(m.turn_order), "profile": call.profile,
                  "model": call.model}
    return OutboxMessage(dedup_key, body, attributes, call.call_id, m.turn_order, m.content)


class TurnTracker:
    def __init__(self, call: CallIdentity, *, format_turns: bool = True, clock: Callable[[], float] = time.time):
        self.call = call
        self.format_turns = format_turns
        self.clock = clock
        self._sessions: dict[int, _SessionTurns] = {}
        self.turns_final = 0
        self.llm_responses = 0

    def _state(self, session: SessionRef) -> _SessionTurns:
        return self._sessions.setdefault(session.number, _SessionTurns())

    def final_turns(self, session: SessionRef) -> dict[int, FinalTurn]:
        return self._state(session).final

    def feed(self, session: SessionRef, msg: object) -> list[Event]:
        """One parsed server message of `session`; other message types give nothing."""
        if isinstance(msg, Turn):
            return self._on_turn(session, msg)
        if isinstance(msg, LLMGatewayResponse):
            return self._on_llm(session, msg)
        return []

    def end_session(self, session: SessionRef) -> list[FinalTurn]:
        """The session is over: unformatted final turns still waiting for their formatted copy are final."""
        st = self._state(session)
        out = [self._final(session, st.pending_unformatted[o]) for o in sorted(st.pending_unformatted)]
        st.pending_unformatted.clear()
        return out

    def _on_turn(self, session: SessionRef, m: Turn) -> list[Event]:
        st = self._state(session)
        if not m.end_of_turn:
            # a later turn has started: the formatted copy of an earlier one is not coming any more
            older = sorted(o for o in st.pending_unformatted if o < m.turn_order)
            return [self._final(session, st.pending_unformatted.pop(o)) for o in older]
        if m.turn_order in st.final:
            return []  # already final (duplicate or a late formatted copy)
        if m.turn_is_formatted or not self.format_turns:
            st.pending_unformatted.pop(m.turn_order, None)
            return [self._final(session, m)]
        st.pending_unformatted[m.turn_order] = m  # prefer the formatted copy that follows
        return []

    def _on_llm(self, session: SessionRef, m: LLMGatewayResponse) -> list[Event]:
        st = self._state(session)
        events: list[Event] = []
        if m.turn_order in st.pending_unformatted:
            events.append(self._final(session, st.pending_unformatted.pop(m.turn_order)))
        self.llm_responses += 1
        events.append(llm_message(self.call, session, m, st.final.get(m.turn_order), self.clock()))
        return events

    def _final(self, session: SessionRef, m: Turn) -> FinalTurn:
        turn = FinalTurn(session.number, m.turn_order, m.transcript, m.turn_is_formatted, self.clock(),
                         m.speaker_label)
        self._state(session).final[m.turn_order] = turn
        self.turns_final += 1
        return turn
