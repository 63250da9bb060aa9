"""store_live_insight: one edge-client LLM response (SNS live-insights topic -> SQS -> Lambda) onto its call.

The edge client (edge_client/, docs/edge-client.md) publishes every LLM Gateway response of a streaming session as
`edge.llm_response.v1`. Each is stored once under the call id the client chose (`LIVE#<session>#<turn>` items:
sorted by session number, then turn order, whatever order SQS delivers them in; a redelivery or a second publish of
the same `dedup_key` changes nothing). The first one creates the call record with status LIVE; when the client
uploads the recording with the same `call-id` metadata, start_call continues that record (logic/start_call.py), so
one record carries the live insights and the post-call analyses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from call_analytics.errors import InvalidRecording
from call_analytics.logic.common import utc_now
from call_analytics.models import CallStatus
from call_analytics.observability import MetricUnit, logger, metrics

LIVE_MESSAGE_SCHEMA = "edge.llm_response.v1"
#: a call id chosen by an edge client (`edge-20261204T195600Z-1a2b3c4d`): also a Step Functions execution name
#: (with `-r<n>` for a re-drive), so letters, digits, '-' and '_' only, at most 64
EXTERNAL_CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
MAX_CONTENT_CHARS = 20_000


def valid_external_call_id(value: str) -> str:
    if not EXTERNAL_CALL_ID.match(value):
        raise InvalidRecording(f"call id {value!r}: letters, digits, '-' or '_', at most 64 characters")
    return value


class LiveLlm(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    content: str = Field(max_length=MAX_CONTENT_CHARS)
    model: str | None = None
    response_model: str | None = None
    usage: dict[str, Any] | None = None


class LiveInsightMessage(BaseModel):
    """The edge client's message body (edge_client/client.py MESSAGE_SCHEMA)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)
    schema_: Literal["edge.llm_response.v1"] = Field(alias="schema")
    type: Literal["llm_response"]
    dedup_key: str = Field(min_length=1, max_length=300)
    call_id: str
    session_id: str = Field(min_length=1, max_length=200)
    session_number: int = Field(ge=0, le=9999)
    turn_order: int = Field(ge=0, le=99_999_999)
    agent_id: str | None = Field(None, max_length=200)
    profile: str | None = Field(None, max_length=64)
    transcript: str = Field("", max_length=MAX_CONTENT_CHARS)
    speaker_label: str | None = None
    llm: LiveLlm
    timestamps: dict[str, str | None] = Field(default_factory=dict)

    @field_validator("call_id")
    @classmethod
    def _call_id(cls, value: str) -> str:
        if not EXTERNAL_CALL_ID.match(value):
            raise ValueError("letters, digits, '-' or '_', at most 64 characters")
        return value

    @property
    def sort_key(self) -> str:
        return f"{self.session_number:04d}#{self.turn_order:08d}"


def store_live_insight(message: LiveInsightMessage, *, calls: Any,
                       now: Callable[[], datetime] = utc_now) -> bool:
    """True when stored now, False for a duplicate."""
    at = now().isoformat(timespec="milliseconds")  # ms: the insight's latency from its final turn is read off it
    created = calls.create_call(message.call_id, status=CallStatus.LIVE, detail="live session (edge client)",
                                agent_id=message.agent_id, live_session_id=message.session_id, source="edge-client",
                                live_started_at=at)
    stored = calls.put_live_insight(message.call_id, message.sort_key, {
        "dedup_key": message.dedup_key, "session_id": message.session_id, "session_number": message.session_number,
        "turn_order": message.turn_order, "agent_id": message.agent_id, "transcript": message.transcript,
        "speaker_label": message.speaker_label, "content": message.llm.content, "model": message.llm.model,
        "response_model": message.llm.response_model, "timestamps": message.timestamps, "stored_at": at,
    })
    if stored:
        calls.increment(message.call_id, "live_insights")
        calls.update_fields(message.call_id, {"last_live_at": at})
        metrics.add_metric(name="LiveInsightsStored", unit=MetricUnit.Count, value=1)
    logger.info("live insight " + ("stored" if stored else "already stored"),
                extra={"call_id": message.call_id, "turn_order": message.turn_order, "created_call": created})
    return stored
