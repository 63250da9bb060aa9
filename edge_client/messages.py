"""Typed Streaming v3 server messages, the parser and the dispatcher.

Messages are parsed on `type` into dataclasses; unknown types become `Unknown` and are ignored by
default (the service adds new types over time). A handler that raises is logged and never stops
the session.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Begin:
    id: str
    expires_at: int | None = None


@dataclass(frozen=True)
class Turn:
    turn_order: int
    end_of_turn: bool
    turn_is_formatted: bool
    transcript: str
    end_of_turn_confidence: float = 0.0
    utterance: str = ""
    speaker_label: str | None = None
    words: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class LLMGatewayResponse:
    turn_order: int
    transcript: str
    data: Any

    @property
    def content(self) -> str:
        """`data.choices[0].message.content` (chat-completions shape), or '' if absent."""
        try:
            return str(self.data["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            return ""

    @property
    def model(self) -> str | None:
        return self.data.get("model") if isinstance(self.data, dict) else None


@dataclass(frozen=True)
class Termination:
    audio_duration_seconds: float = 0
    session_duration_seconds: float = 0


@dataclass(frozen=True)
class ServerError:
    """`{"type": "Error", "error_code": 3008, "error": "..."}` or a type-less `{"error": ...}`."""

    error: str
    error_code: int | None = None


@dataclass(frozen=True)
class Unknown:
    type: str
    raw: dict


Message = Begin | Turn | LLMGatewayResponse | Termination | ServerError | Unknown


class MessageParseError(ValueError):
    pass


def parse_message(text: str | bytes) -> Message:
    try:
        d = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise MessageParseError(f"not JSON: {exc}") from exc
    if not isinstance(d, dict):
        raise MessageParseError("not a JSON object")
    t = d.get("type")
    try:
        if t == "Begin":
            return Begin(id=str(d["id"]), expires_at=d.get("expires_at"))
        if t == "Turn":
            return Turn(turn_order=int(d["turn_order"]), end_of_turn=bool(d.get("end_of_turn", False)),
                        turn_is_formatted=bool(d.get("turn_is_formatted", False)),
                        transcript=str(d.get("transcript") or ""),
                        end_of_turn_confidence=float(d.get("end_of_turn_confidence") or 0.0),
                        utterance=str(d.get("utterance") or ""), speaker_label=d.get("speaker_label"),
                        words=list(d.get("words") or []))
        if t == "LLMGatewayResponse":
            return LLMGatewayResponse(turn_order=int(d["turn_order"]), transcript=str(d.get("transcript") or ""),
                                      data=d.get("data"))
        if t == "Termination":
            return Termination(audio_duration_seconds=d.get("audio_duration_seconds") or 0,
                               session_duration_seconds=d.get("session_duration_seconds") or 0)
        if t == "Error" or (t is None and "error" in d):
            code = d.get("error_code")
            return ServerError(error=str(d.get("error") or ""), error_code=int(code) if code is not None else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise MessageParseError(f"bad {t} message: {exc!r}") from exc
    return Unknown(type=str(t), raw=d)


Handler = Callable[[Any], None]


class Dispatcher:
    """Routes parsed messages to handlers by class. Handler failures are logged and counted."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self.handler_errors = 0
        self.parse_errors = 0
        self.ignored = 0

    def on(self, kind: type, handler: Handler) -> None:
        self._handlers[kind].append(handler)

    def dispatch_raw(self, text: str | bytes) -> Message | None:
        try:
            msg = parse_message(text)
        except MessageParseError as exc:
            self.parse_errors += 1
            log.warning("ignoring unparseable server message: %s", exc)
            return None
        self.dispatch(msg)
        return msg

    def dispatch(self, msg: Message) -> None:
        handlers = self._handlers.get(type(msg), [])
        if not handlers:
            if isinstance(msg, Unknown):
                self.ignored += 1
                log.debug("ignoring server message of unknown type %r", msg.type)
            return
        for h in handlers:
            try:
                h(msg)
            except Exception:
                self.handler_errors += 1
                log.exception("handler %s failed on %s (session continues)", getattr(h, "__name__", h),
                              type(msg).__name__)
