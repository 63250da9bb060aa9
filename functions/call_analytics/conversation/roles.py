"""Speaker roles: which transcript speaker is the agent and which the customer (docs/data-model.md "Speaker roles").

In order of precedence:
1. `override`: the upload's object metadata `speaker-roles` (`A=customer,B=agent`, or `1=agent,2=customer` for
   channels), validated at start_call (parse_override).
2. `channels`: a multichannel transcript; the profile's `roles.channels`, else channel 1 -> the first role name,
   channel 2 -> the second (recorders put the agent on the first channel; say otherwise in the profile).
3. `speaker_identification`: AssemblyAI already labelled the speakers with role names (profile `roles.mono`).
4. `heuristic` (mono): each speaker scores agent cues (greeting the caller, introducing themselves on behalf of a
   company, offering help) and customer cues (calling about their problem, their account); the highest agent
   score is the agent. No cue at all: the first voice is `roles.first_speaker` (agents answer the phone).
Speakers beyond the known roles keep their label (`speaker C`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from call_analytics.errors import InvalidRecording
from call_analytics.profiles.model import AGENT, CUSTOMER, ROLE_NAME, Roles

OVERRIDE_METADATA_KEY = "speaker-roles"
#: the call record field holding the parsed override (start_call writes it, fetch_transcript reads it)
ROLE_OVERRIDE_FIELD = "speaker_roles_override"
_OVERRIDE_PAIR = re.compile(r"^\s*([A-Za-z]|\d{1,2})\s*=\s*([a-z][a-z_-]{0,31})\s*$")

_AGENT_CUES = re.compile(
    r"\b(thanks? (you )?for calling|how (can|may) i (help|assist)|my name is \w+|this is \w+( \w+)? "
    r"(from|at|with|speaking)|\w+ speaking\b|customer (care|service|support)|calling from|"
    r"let me (check|look|take a look|pull)|i can see (that|your|the)|is there anything else|"
    r"can i (have|get) your|could you (please )?(confirm|verify)|have a (great|nice|wonderful) (day|evening))",
    re.IGNORECASE)
_CUSTOMER_CUES = re.compile(
    r"\b(i'?m calling (about|because|to)|i am calling (about|because|to)|"
    r"i have a (\w+ )?(question|problem|complaint|issue)|"
    r"my (\w+ )?(bill|account|order|internet|car|payment|card|meter|subscription|invoice)|"
    r"i was charged|i want to (cancel|speak)|can i speak to|i would like to (order|cancel|know))",
    re.IGNORECASE)


@dataclass(frozen=True)
class RoleMap:
    """speaker id (a mono speaker label, or a channel number for multichannel) -> role."""

    method: str  # override | channels | speaker_identification | heuristic | none
    speakers: dict[str, str] = field(default_factory=dict)
    evidence: str = ""

    def role_of(self, speaker_id: str | None) -> str | None:
        return self.speakers.get(speaker_id) if speaker_id is not None else None

    def label_of(self, speaker_id: str | None) -> str:
        """What a reader (and the LLM) sees: `Agent`, `Customer`; a second speaker of one role `Agent 2`;
        a speaker without a role `Speaker C`."""
        role = self.role_of(speaker_id)
        if role is None:
            return f"Speaker {speaker_id}" if speaker_id else "Speaker"
        same = [s for s, r in self.speakers.items() if r == role]
        label = role.replace("_", " ").capitalize()
        return label if len(same) == 1 or same.index(speaker_id) == 0 else f"{label} {same.index(speaker_id) + 1}"

    def to_record(self) -> dict[str, Any]:
        return {"method": self.method, "speakers": dict(self.speakers), "evidence": self.evidence}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> RoleMap | None:
        if not record or not isinstance(record.get("speakers"), dict):
            return None
        return cls(method=str(record.get("method") or "stored"), speakers=dict(record["speakers"]),
                   evidence=str(record.get("evidence") or ""))


def parse_override(value: str | None, known_roles: list[str] | None = None) -> dict[str, str] | None:
    """`A=customer,B=agent` -> {"A": "customer", "B": "agent"}; InvalidRecording names what is wrong."""
    if value is None or not value.strip():
        return None
    pairs: dict[str, str] = {}
    for part in value.split(","):
        match = _OVERRIDE_PAIR.match(part)
        if not match:
            raise InvalidRecording(f"metadata {OVERRIDE_METADATA_KEY}={value!r}: expected pairs like "
                                   "'A=agent,B=customer' (speaker letter or channel number = role)")
        speaker, role = match[1].upper(), match[2]
        if not ROLE_NAME.match(role) or (known_roles and role not in known_roles):
            raise InvalidRecording(f"metadata {OVERRIDE_METADATA_KEY}: role {role!r} is not one of {known_roles}")
        if speaker in pairs:
            raise InvalidRecording(f"metadata {OVERRIDE_METADATA_KEY}: speaker {speaker!r} given twice")
        pairs[speaker] = role
    return pairs


def is_multichannel(transcript: dict[str, Any]) -> bool:
    if transcript.get("multichannel"):
        return True
    words = transcript.get("words") or []
    return bool(words) and all(w.get("channel") not in (None, "") for w in words[:50]) and \
        len({str(w.get("channel")) for w in words}) > 1


def speaker_id(item: dict[str, Any], multichannel: bool) -> str | None:
    """The id roles are keyed by: the channel of a multichannel transcript, else the speaker label."""
    if multichannel and item.get("channel") not in (None, ""):
        return str(item["channel"])
    speaker = item.get("speaker")
    return str(speaker) if speaker not in (None, "") else None


def speaker_turns(transcript: dict[str, Any]) -> list[tuple[str, str]]:
    """(speaker id, text) per utterance, else per run of words of one speaker."""
    multichannel = is_multichannel(transcript)
    utterances = transcript.get("utterances") or []
    if utterances:
        return [(sid, u.get("text") or "") for u in utterances if (sid := speaker_id(u, multichannel))]
    turns: list[tuple[str, str]] = []
    for word in transcript.get("words") or []:
        sid = speaker_id(word, multichannel)
        if sid is None:
            continue
        if turns and turns[-1][0] == sid:
            turns[-1] = (sid, f"{turns[-1][1]} {word.get('text', '')}")
        else:
            turns.append((sid, word.get("text", "")))
    return turns


def assign_roles(transcript: dict[str, Any], roles: Roles, override: dict[str, str] | None = None) -> RoleMap:
    turns = speaker_turns(transcript)
    order: list[str] = []
    for sid, _ in turns:
        if sid not in order:
            order.append(sid)
    if override:
        return RoleMap("override", {s: r for s, r in override.items()},
                       f"object metadata {OVERRIDE_METADATA_KEY}")
    if is_multichannel(transcript):
        channels = dict(roles.channels) or {str(i + 1): name for i, name in enumerate(roles.names[:2])}
        return RoleMap("channels", {c: channels[c] for c in order if c in channels},
                       "profile roles.channels" if roles.channels else "channel 1 = first role, channel 2 = second")
    by_name = {s: s.lower().replace(" ", "_") for s in order if s.lower().replace(" ", "_") in roles.names}
    if by_name:
        return RoleMap("speaker_identification", by_name, "speaker labels are role names")
    if not order:
        return RoleMap("none", {}, "no speaker labels")
    return _heuristic(turns, order, roles)


def _heuristic(turns: list[tuple[str, str]], order: list[str], roles: Roles) -> RoleMap:
    agent_score = {s: 0 for s in order}
    for sid, text in turns[:12]:  # the opening decides; later turns quote and echo each other
        agent_score[sid] += len(_AGENT_CUES.findall(text)) - len(_CUSTOMER_CUES.findall(text))
    others = [r for r in roles.names if r != AGENT] or [CUSTOMER]
    if AGENT not in roles.names:  # a profile without an agent role: first voice gets the first role
        return RoleMap("heuristic", {s: roles.names[i] for i, s in enumerate(order[:len(roles.names)])},
                       "speaking order")
    best = max(order, key=lambda s: (agent_score[s], -order.index(s)))
    if agent_score[best] > 0 and (len(order) == 1 or agent_score[best] > sorted(agent_score.values())[-2]):
        agent, evidence = best, f"agent cues: {agent_score}"
    else:
        first_is_agent = roles.first_speaker == AGENT
        agent = order[0] if first_is_agent or len(order) == 1 else order[1]
        evidence = f"no decisive cue ({agent_score}); the first speaker is the {roles.first_speaker}"
    speakers = {agent: AGENT}
    rest = [s for s in order if s != agent]
    for sid, role in zip(rest, others, strict=False):
        speakers[sid] = role
    return RoleMap("heuristic", speakers, evidence)
