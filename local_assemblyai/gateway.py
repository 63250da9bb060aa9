"""LLM Gateway (`POST /v1/chat/completions`): request rules, pluggable answering engines, responses.

Engines:
* `OfflineEngine` - the built-in analyzers (no LLM): structured analyses by json_schema name, free-form
  prompts by what they ask for (phases JSON, question lists, action items, summaries; analyzers/prompt_kinds.py),
  labelled extractive answers otherwise.
* `ProxyEngine` - forwards to any OpenAI-compatible endpoint (base_url + key from an env var).

Token counts are a deterministic approximation: ceil(characters / 4) per text (documented).
"""

from __future__ import annotations

import asyncio
import copy
import math
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from .analyzers import AnalysisInput, OfflineAnalyzer, message_text
from .config import LlmConfig
from .transcript_parse import Line

TRANSCRIPT_TAG = "{{ transcript }}"


def count_tokens(text: str) -> int:
    """~4 characters per token (the usual rule of thumb for English BPE vocabularies)."""
    return math.ceil(len(text) / 4) if text else 0


class GatewayError(Exception):
    """An error answered with the gateway's business envelope."""

    def __init__(self, status: int, message: str, errors: list[str] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or [message]
        self.headers = headers or {}


class EngineFailure(Exception):
    """The answering engine failed (upstream 5xx, timeout); a fallback model may be tried."""


@dataclass
class EngineReply:
    content: str | None
    finish_reason: str = "stop"
    tool_calls: list[dict] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class EngineRequest:
    model: str
    body: dict[str, Any]                  # the request after substitution (messages normalised)
    stored_lines: list[Line] = field(default_factory=list)
    substituted_text: str | None = None
    turn_text: str | None = None          # streaming: the final transcript of the turn


class ChatEngine(Protocol):
    name: str

    async def complete(self, req: EngineRequest) -> EngineReply: ...


class OfflineEngine:
    name = "offline"

    def __init__(self, analyzer: OfflineAnalyzer | None = None) -> None:
        self.analyzer = analyzer or OfflineAnalyzer()

    def _answer(self, req: EngineRequest) -> str:
        # a streaming turn ({{turn}}) is answered from the turn's text; structured requests from the message
        turn = req.turn_text if not req.body.get("response_format") else None
        return self.analyzer.answer(AnalysisInput(messages=req.body["messages"],
                                                  response_format=req.body.get("response_format"),
                                                  stored_lines=req.stored_lines,
                                                  substituted_text=req.substituted_text), turn_text=turn)

    async def complete(self, req: EngineRequest) -> EngineReply:
        content = await asyncio.get_running_loop().run_in_executor(None, self._answer, req)
        return EngineReply(content=content)


class ProxyEngine:
    """Forward to an OpenAI-compatible `/chat/completions`; model ids may be mapped (model_map)."""

    name = "proxy"
    _FORWARD = ("messages", "max_tokens", "temperature", "tools", "tool_choice", "response_format", "top_p", "stop")

    def __init__(self, cfg: LlmConfig) -> None:
        self.cfg = cfg
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session:
            await self._session.close()

    async def complete(self, req: EngineRequest) -> EngineReply:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        key = os.environ.get(self.cfg.api_key_env or "", "")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        body = {k: req.body[k] for k in self._FORWARD if k in req.body}
        body["model"] = self.cfg.model_map.get(req.model, req.model)
        url = str(self.cfg.base_url).rstrip("/") + "/chat/completions"
        try:
            async with self._session.post(url, json=body, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=self.cfg.timeout_seconds)) as resp:
                data = await resp.json(content_type=None)
                if resp.status >= 500 or resp.status == 429:
                    raise EngineFailure(f"upstream returned {resp.status}")
                if resp.status != 200:
                    msg = data.get("error", {}).get("message") if isinstance(data.get("error"), dict) else None
                    raise GatewayError(resp.status, msg or f"upstream returned {resp.status}")
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise EngineFailure(f"upstream unreachable: {exc}") from exc
        choice = (data.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        usage = data.get("usage") or {}
        return EngineReply(content=message.get("content"), finish_reason=choice.get("finish_reason") or "stop",
                           tool_calls=message.get("tool_calls") or choice.get("tool_calls"),
                           prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"))


class RateLimiter:
    """Requests per model in a sliding 60 s window."""

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}

    def check(self, model: str, limit: int | None) -> tuple[bool, int, int]:
        """(allowed, remaining, retry_after_seconds)."""
        if not limit:
            return True, -1, 0
        now = time.monotonic()
        q = self._hits.setdefault(model, deque())
        while q and now - q[0] >= 60:
            q.popleft()
        if len(q) >= limit:
            return False, 0, max(1, math.ceil(60 - (now - q[0])))
        q.append(now)
        return True, limit - len(q), 0


def normalise_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None and isinstance(body.get("prompt"), str):
        return [{"role": "user", "content": body["prompt"]}]
    if not isinstance(messages, list) or not messages:
        raise GatewayError(400, "Invalid request", ["one of messages or prompt required"])
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system", "tool"):
            raise GatewayError(400, "Invalid request", ["messages[].role must be one of user, assistant, system, tool"])
    return copy.deepcopy(messages)


def substitute_transcript(messages: list[dict[str, Any]], text: str) -> bool:
    """Replace the first `{{ transcript }}` in the first message containing it (contract §3.2).
    String content and `{"type": "text"}` parts are scanned in order. Returns True if replaced."""
    for m in messages:
        content = m.get("content")
        if isinstance(content, str) and TRANSCRIPT_TAG in content:
            m["content"] = content.replace(TRANSCRIPT_TAG, text, 1)
            return True
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text" and TRANSCRIPT_TAG in part.get("text", ""):
                    part["text"] = part["text"].replace(TRANSCRIPT_TAG, text, 1)
                    return True
    return False


def completion_response(model: str, body: dict[str, Any], reply: EngineReply, started: float,
                        request_id: str | None = None) -> dict[str, Any]:
    """The superset shape: OpenAI fields + AssemblyAI fields (contract §3.4) so every parser accepts it."""
    prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else sum(
        count_tokens(message_text(m)) for m in body.get("messages", []))
    completion_tokens = reply.completion_tokens if reply.completion_tokens is not None else count_tokens(
        reply.content or "")
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": reply.finish_reason}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
        choice["tool_calls"] = reply.tool_calls
    echo = {k: v for k, v in body.items() if k not in ("messages", "prompt")}
    echo["model"] = model
    rid = request_id or str(uuid.uuid4())
    return {
        "request_id": rid, "id": f"chatcmpl-{rid}", "object": "chat.completion", "created": int(time.time()),
        "model": model, "choices": [choice], "request": echo,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens, "prompt_tokens": prompt_tokens,
                  "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
        "http_status_code": 200, "response_time": int((time.perf_counter() - started) * 1e9), "llm_status_code": 200,
    }


def attempt_chain(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The primary request followed by fallbacks (each a full request with its overrides applied).
    Without fallbacks and with fallback_config.retry (default true) the primary is retried once."""
    cfg = body.get("fallback_config") or {}
    if not isinstance(cfg, dict):
        raise GatewayError(400, "Invalid request", ["fallback_config must be an object"])
    fallbacks = body.get("fallbacks") or []
    if not isinstance(fallbacks, list) or not all(isinstance(f, dict) and f.get("model") for f in fallbacks):
        raise GatewayError(400, "Invalid request", ["fallbacks must be a list of objects with a model"])
    depth = int(cfg.get("depth", 1 if fallbacks else 0))
    if depth > 2:
        raise GatewayError(400, "Invalid request", ["fallback_config.depth must be at most 2"])
    base = {k: v for k, v in body.items() if k not in ("fallbacks", "fallback_config")}
    chain = [base] + [{**base, **f} for f in fallbacks[:depth]]
    if not fallbacks and cfg.get("retry", True):
        chain.append(base)  # one retry of the primary after 500 ms
    # Independent copies: substitution must happen exactly once in each attempt's messages.
    return [copy.deepcopy(a) for a in chain]


class ChatService:
    """Validates a chat request, applies rate limits, substitution and fallbacks, and calls the engine.
    Shared by the HTTP gateway and the streaming `llm_gateway` feature."""

    def __init__(self, config: Any, engine: ChatEngine, stats: Any, transcript_lookup: Any) -> None:
        self._config = config              # () -> ServerConfig
        self.engine = engine
        self.stats = stats
        self.lookup = transcript_lookup    # (id) -> record | None
        self.limiter = RateLimiter()

    def _limit_for(self, model: str) -> int | None:
        limit = self._config().llm.rate_limit_per_minute
        if isinstance(limit, dict):
            return limit.get(model) or limit.get("*")
        return limit

    async def complete(self, body: dict[str, Any], turn_text: str | None = None) -> dict[str, Any]:
        started = time.perf_counter()
        if not isinstance(body, dict):
            raise GatewayError(400, "Invalid request", ["request body must be a JSON object"])
        models = self._config().llm.models
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise GatewayError(400, "Invalid request: missing required field 'model'", ["model is required"])
        messages = normalise_messages(body)
        chain = attempt_chain({**body, "messages": messages})
        for attempt in chain:
            if attempt["model"] not in models:
                raise GatewayError(400, f"model {attempt['model']} is not supported",
                                   [f"model {attempt['model']} is not supported"])
        stored_lines: list[Line] = []
        substituted: str | None = None
        tid = body.get("transcript_id")
        if tid is not None:
            rec = self.lookup(tid) if isinstance(tid, str) else None
            if rec is None:
                raise GatewayError(404, f"transcript {tid} not found", ["transcript_id not found"])
            if rec.get("status") != "completed":
                raise GatewayError(400, f"transcript {tid} is not completed (status: {rec.get('status')})")
            substituted = rec.get("text") or ""
            for att in chain:
                substitute_transcript(att["messages"], substituted)
            source = rec.get("utterances") or _sentences_of(rec)
            stored_lines = [Line(u["start"] / 1000, u["end"] / 1000, u.get("speaker"), u["text"]) for u in source]
        last_failure: Exception | None = None
        for i, attempt in enumerate(chain):
            name = attempt["model"]
            allowed, remaining, retry_after = self.limiter.check(name, self._limit_for(name))
            if not allowed:
                self.stats.incr("events", "llm_rate_limited")
                raise GatewayError(429, f"Rate limit exceeded for model {name}", [f"rate limit exceeded for {name}"],
                                   headers={"Retry-After": str(retry_after),
                                            "X-RateLimit-Limit": str(self._limit_for(name)),
                                            "X-RateLimit-Remaining": "0"})
            if i > 0 and not body.get("fallbacks"):
                await asyncio.sleep(0.5)  # the gateway's automatic single retry of the primary
            self.stats.incr("llm_requests", name)
            try:
                reply = await self.engine.complete(EngineRequest(model=name, body=attempt, stored_lines=stored_lines,
                                                                 substituted_text=substituted, turn_text=turn_text))
            except EngineFailure as exc:
                last_failure = exc
                self.stats.incr("events", "llm_engine_failures")
                continue
            response = completion_response(name, attempt, reply, started)
            if remaining >= 0:
                response["_ratelimit_remaining"] = remaining
            return response
        raise GatewayError(500, f"all models failed: {last_failure}", [str(last_failure)])


def _sentences_of(rec: dict[str, Any]) -> list[dict[str, Any]]:
    from .rendering import sentences

    return sentences(rec.get("words") or [])
