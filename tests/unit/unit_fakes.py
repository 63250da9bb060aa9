"""Test doubles for the unit tests (named as such, never used by the product)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

LIMITS_TABLE = "limits"


def create_limits_table(ddb) -> None:
    """The limits table of infra/storage.py in moto: pk/sk strings (TTL attribute expires_at). Not a double."""
    ddb.create_table(
        TableName=LIMITS_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )


@dataclass
class FakeLambdaContext:
    function_name: str = "call-analytics-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:call-analytics-test"
    aws_request_id: str = "req-0001"
    log_group_name: str = "/aws/lambda/call-analytics-test"
    log_stream_name: str = "stream"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def completed_transcript(transcript_id: str = "tr-1", utterances: list[tuple[float, float, str, str]] | None = None,
                         audio_duration: int | None = None) -> dict[str, Any]:
    """A completed AssemblyAI transcript built from (start_s, end_s, speaker, text) utterances."""
    utterances = utterances if utterances is not None else DEFAULT_UTTERANCES
    words, utts = [], []
    for start, end, speaker, text in utterances:
        tokens = text.split()
        step = (end - start) / max(1, len(tokens))
        uwords = [
            {"text": t, "start": int((start + i * step) * 1000), "end": int((start + (i + 1) * step) * 1000),
             "confidence": 0.95, "speaker": speaker}
            for i, t in enumerate(tokens)
        ]
        words.extend(uwords)
        utts.append({"start": int(start * 1000), "end": int(end * 1000), "speaker": speaker, "text": text,
                     "confidence": 0.95, "words": uwords})
    last_end = utterances[-1][1] if utterances else 0
    return {
        "id": transcript_id,
        "status": "completed",
        "text": " ".join(u[3] for u in utterances) if utterances else "",
        "words": words,
        "utterances": utts if utterances else [],
        "audio_duration": audio_duration if audio_duration is not None else int(last_end),
        "language_code": "en_us",
        "speech_model": None,
    }


DEFAULT_UTTERANCES = [
    (0.5, 4.0, "A", "Thanks for calling Northwind, this is Dana. How can I help?"),
    (4.2, 12.0, "B", "Hi Dana, my order never arrived and I was charged twice for it."),
    (12.3, 30.0, "A", "I'm sorry about that. I can see the duplicate charge and I will refund it today."),
    (30.2, 40.0, "B", "Great, thank you so much, that really helps."),
    (40.2, 45.0, "A", "You're welcome. Have a great day, goodbye."),
]


def vtt_for(transcript: dict[str, Any]) -> str:
    def ts(ms: int) -> str:
        s, ms = divmod(ms, 1000)
        m, s = divmod(s, 60)
        return f"{m:02d}:{s:02d}.{ms:03d}"

    cues = [f"{ts(u['start'])} --> {ts(u['end'])}\n{u['text']}" for u in transcript.get("utterances") or []]
    return "WEBVTT\n\n" + "\n\n".join(cues) + "\n"


def chat_response(content: str, *, model: str = "claude-sonnet-4-5-20250929", prompt_tokens: int = 100,
                  completion_tokens: int = 50, finish_reason: str = "stop") -> dict[str, Any]:
    return {
        "request_id": "req-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}],
        "request": {"model": model},
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


@dataclass
class FakeAssemblyAI:
    """Scripted stand-in for AssemblyAIClient: records every call, answers from queues/maps."""

    transcripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id -> successive GET answers
    vtt: dict[str, str] = field(default_factory=dict)
    chat_answers: list[Any] = field(default_factory=list)  # dicts (responses), str (content) or exceptions
    submit_error: Exception | None = None
    submissions: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1

    def submit_transcript(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.submit_error:
            raise self.submit_error
        self.submissions.append(copy.deepcopy(params))
        transcript_id = f"tr-{self.next_id}"
        self.next_id += 1
        return {"id": transcript_id, "status": "queued", "audio_url": params["audio_url"]}

    def upload(self, data, *, size=None) -> str:
        stream = data() if callable(data) and not hasattr(data, "read") else data
        body = stream if isinstance(stream, bytes) else stream.read()
        self.uploads.append(body)
        return f"https://cdn.example/upload/{len(self.uploads)}"

    def get_transcript(self, transcript_id: str) -> dict[str, Any]:
        answers = self.transcripts[transcript_id]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return copy.deepcopy(answer)

    def get_vtt(self, transcript_id: str) -> str:
        return self.vtt[transcript_id]

    def chat_completion(self, request: dict[str, Any]) -> dict[str, Any]:
        self.chat_requests.append(json.loads(json.dumps(request)))
        if not self.chat_answers:
            raise AssertionError("FakeAssemblyAI: no scripted chat answer left")
        answer = self.chat_answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, dict) else chat_response(answer)
