"""The aiohttp application: REST v2, LLM Gateway v1, Streaming v3 and the admin API on one port."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import config as config_mod
from . import rendering
from .config import ConfigError, ServerConfig
from .faults import (
    CONTENT_ACTIONS,
    DEFAULT_REFUSAL,
    HTTP_ACTIONS,
    WS_ACTIONS,
    FaultConfigError,
    FaultPlan,
    garbage_text,
    truncated_text,
)
from .gateway import ChatService, GatewayError, OfflineEngine, ProxyEngine, count_tokens
from .params import ParamError, validate_transcript_params
from .stats import Stats
from .streaming import SessionClose, SessionParams, StreamingSession
from .stt import SpeechEngine
from .transcripts import TERMINAL, TranscriptService, public_view

log = logging.getLogger("local_assemblyai")

AUTH_ERROR = "Authentication error, API token missing/invalid"


@dataclass
class TempToken:
    expires_at: float
    max_session_seconds: float
    used: bool = False


def _group(path: str) -> str | None:
    if path.startswith(("/v2/upload", "/upload/")):
        return "upload"
    if path.startswith("/v2/transcript"):
        return "transcript"
    if path.startswith("/v1/"):
        return "llm"
    if path.startswith("/v3/token"):
        return "token"
    return None


def _json_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _gateway_error(exc: GatewayError) -> web.Response:
    rid = str(uuid.uuid4())
    # Both documented envelopes at once: the SDK reads `message`/`metadata.errors`, docs clients `error.*`.
    body = {"message": exc.message, "code": exc.status, "request_id": rid, "metadata": {"errors": exc.errors},
            "error": {"code": exc.status, "message": exc.message, "metadata": {"errors": exc.errors}}}
    return web.json_response(body, status=exc.status, headers=exc.headers)


class LocalAssemblyAI:
    def __init__(self, cfg: ServerConfig) -> None:
        self._cfg = cfg
        cfg.data_path.mkdir(parents=True, exist_ok=True)
        self.uploads_dir = cfg.data_path / "uploads"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.stats = Stats()
        self.faults = FaultPlan(self._fault_rules(cfg.faults))
        self.engine = SpeechEngine(cfg.speech_model, cfg.cache_path, cfg.stt, num_workers=cfg.concurrency + 1)
        self.transcripts = TranscriptService(lambda: self._cfg, self.engine, self.stats, self.faults, self.uploads_dir)
        self.chat_engine = ProxyEngine(cfg.llm) if cfg.llm.engine == "proxy" else OfflineEngine()
        self.chat = ChatService(lambda: self._cfg, self.chat_engine, self.stats, self.transcripts.store.get)
        self.tokens: dict[str, TempToken] = {}
        self.sessions = 0

    @property
    def cfg(self) -> ServerConfig:
        return self._cfg

    @staticmethod
    def _fault_rules(faults: Any) -> list[dict]:
        if isinstance(faults, dict):
            return list(faults.get("rules", []))
        if isinstance(faults, list):
            return faults
        raise ConfigError("faults must be {\"rules\": [...]}")

    # -- app --------------------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._observe, self._auth, self._inject_faults], client_max_size=3 * 2**30)
        r = app.router
        r.add_get("/health", self.health)
        r.add_post("/v2/upload", self.upload)
        r.add_get("/upload/{upload_id}", self.get_upload)
        r.add_post("/v2/transcript", self.create_transcript)
        r.add_get("/v2/transcript", self.list_transcripts)
        r.add_get("/v2/transcript/{transcript_id}", self.get_transcript)
        r.add_delete("/v2/transcript/{transcript_id}", self.delete_transcript)
        r.add_get("/v2/transcript/{transcript_id}/sentences", self.get_sentences)
        r.add_get("/v2/transcript/{transcript_id}/paragraphs", self.get_paragraphs)
        r.add_get("/v2/transcript/{transcript_id}/word-search", self.word_search)
        r.add_get("/v2/transcript/{transcript_id}/{subtitle_format}", self.get_subtitles)
        r.add_post("/v1/chat/completions", self.chat_completions)
        r.add_get("/v1/models", self.list_models)
        r.add_get("/v3/token", self.streaming_token)
        r.add_get("/v3/ws", self.streaming_ws)
        r.add_get("/_local/stats", self.admin_stats)
        r.add_post("/_local/stats/reset", self.admin_stats_reset)
        r.add_get("/_local/faults", self.admin_faults_get)
        r.add_post("/_local/faults", self.admin_faults_set)
        r.add_delete("/_local/faults", self.admin_faults_clear)
        r.add_get("/_local/config", self.admin_config_get)
        r.add_post("/_local/config", self.admin_config_set)
        app.on_startup.append(self._startup)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _startup(self, app: web.Application) -> None:
        await self.transcripts.start()

    async def _cleanup(self, app: web.Application) -> None:
        await self.transcripts.stop()
        if isinstance(self.chat_engine, ProxyEngine):
            await self.chat_engine.close()

    # -- middlewares ------------------------------------------------------------------------------
    @web.middleware
    async def _observe(self, request: web.Request, handler):
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else request.path
        self.stats.incr("requests", f"{request.method} {route}")
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self.stats.incr("responses", str(exc.status))
            raise
        self.stats.incr("responses", str(response.status))
        return response

    def _key_of(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "").strip()
        return header[7:].strip() if header.lower().startswith("bearer ") else header

    def key_valid(self, key: str) -> bool:
        return bool(key) and (not self.cfg.api_keys or key in self.cfg.api_keys)

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        path = request.path
        if path == "/health" or path == "/v3/ws" or (path == "/v1/models" and request.method == "GET"):
            return await handler(request)
        if not self.key_valid(self._key_of(request)):
            if path.startswith("/v1/"):
                return web.json_response({"error": AUTH_ERROR, "status": "error", "request_id": str(uuid.uuid4())},
                                         status=401)
            return _json_error(401, AUTH_ERROR)
        return await handler(request)

    @web.middleware
    async def _inject_faults(self, request: web.Request, handler):
        group = _group(request.path)
        if group is None:
            return await handler(request)
        early = await self._http_fault(request, group, "request")
        if early is not None:
            return early
        response = await handler(request)
        if response.prepared:
            return response  # streamed (SSE): already sent, nothing left to lose
        # stage "response": the request has been handled (job created, answer computed); now lose or spoil it
        late = await self._http_fault(request, group, "response")
        return response if late is None else late

    async def _http_fault(self, request: web.Request, group: str, stage: str) -> web.StreamResponse | None:
        """Apply the HTTP fault rules of one stage: a response to send instead, or None (carry on)."""
        for rule in self.faults.match(group, request.method, request.path, actions=HTTP_ACTIONS, stage=stage):
            self.stats.incr("faults", f"{group}:{rule.action}" + (":response" if stage == "response" else ""))
            if rule.action == "latency":
                await asyncio.sleep(rule.latency_ms / 1000)
            elif rule.action == "429":
                headers = {"Retry-After": str(int(rule.retry_after))}
                if group == "llm":
                    return _gateway_error(GatewayError(429, rule.message or "Too Many Requests", headers=headers))
                return _json_error(429, rule.message or "Too Many Requests", headers)
            elif rule.action == "5xx":
                msg = rule.message or ("Internal Server Error" if rule.status == 500 else "Service Unavailable")
                if group == "llm":
                    return _gateway_error(GatewayError(rule.status, msg))
                return _json_error(rule.status, msg)
            elif rule.action == "drop":
                if request.transport is not None:
                    request.transport.close()  # the client sees a dropped connection, no response
                raise asyncio.CancelledError()
        return None

    def _spoil_answer(self, request: web.Request, response: dict[str, Any]) -> dict[str, Any]:
        """LLM content faults: the envelope stays a well-formed 200 completion, the content is not what was asked."""
        for rule in self.faults.match("llm", request.method, request.path, actions=CONTENT_ACTIONS, limit=1):
            self.stats.incr("faults", f"llm:{rule.action}")
            choice = response["choices"][0]
            content = choice["message"].get("content") or ""
            if rule.action == "garbage":
                content = rule.message or garbage_text(rule.rng)
            elif rule.action == "truncated":
                content = truncated_text(content)
                choice["finish_reason"] = "length"
            else:  # refusal
                content = rule.message or DEFAULT_REFUSAL
            choice["message"]["content"] = content
            usage = response["usage"]
            usage["completion_tokens"] = usage["output_tokens"] = count_tokens(content)
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return response

    # -- health -----------------------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "speech_model": self.cfg.speech_model,
                                  "llm_engine": self.cfg.llm.engine})

    # -- upload -----------------------------------------------------------------------------------
    def _base_url(self, request: web.Request) -> str:
        return (self.cfg.public_base_url or f"{request.scheme}://{request.host}").rstrip("/")

    async def upload(self, request: web.Request) -> web.Response:
        upload_id = str(uuid.uuid4())
        path = self.uploads_dir / upload_id
        size = 0
        with open(path, "wb") as f:  # noqa: ASYNC230 - local disk, small writes
            async for block in request.content.iter_chunked(1 << 16):
                size += len(block)
                f.write(block)
        if size == 0:
            path.unlink(missing_ok=True)
            return _json_error(400, "Upload failed: the request body is empty. Send the file's bytes as the body.")
        self.stats.incr("events", "uploads")
        return web.json_response({"upload_url": f"{self._base_url(request)}/upload/{upload_id}"})

    async def get_upload(self, request: web.Request) -> web.StreamResponse:
        path = self.uploads_dir / request.match_info["upload_id"]
        if not path.is_file() or not path.resolve().is_relative_to(self.uploads_dir.resolve()):
            return _json_error(404, "Not found")
        return web.FileResponse(path)

    # -- transcripts ------------------------------------------------------------------------------
    def _lookup(self, request: web.Request) -> dict[str, Any]:
        rec = self.transcripts.store.get(request.match_info["transcript_id"])
        if rec is None:
            if self.cfg.unknown_transcript_status == 404:
                raise web.HTTPNotFound(text=json.dumps({"error": "Not found"}), content_type="application/json")
            raise web.HTTPBadRequest(text=json.dumps({"error": "Transcript lookup error, transcript id not found"}),
                                     content_type="application/json")
        return rec

    def _completed(self, request: web.Request) -> dict[str, Any]:
        rec = self._lookup(request)
        if rec["status"] != "completed" or rec.get("_deleted"):
            raise web.HTTPBadRequest(text=json.dumps({"error": f"Transcript is not completed (status: "
                                                               f"{rec['status']})"}), content_type="application/json")
        return rec

    async def create_transcript(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _json_error(400, "Invalid JSON in request body")
        try:
            params = validate_transcript_params(body, self.cfg.require_speech_models, self.cfg.speech_model_ids)
        except ParamError as exc:
            return _json_error(400, str(exc))
        return web.json_response(public_view(self.transcripts.create(params)))

    async def get_transcript(self, request: web.Request) -> web.Response:
        return web.json_response(public_view(self._lookup(request)))

    async def delete_transcript(self, request: web.Request) -> web.Response:
        rec = self._lookup(request)
        if rec["status"] not in TERMINAL:
            return _json_error(400, "Transcript cannot be deleted while it is queued or processing")
        return web.json_response(public_view(self.transcripts.delete(rec)))

    async def list_transcripts(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            limit = int(q.get("limit", 10))
        except ValueError:
            return _json_error(400, "limit must be an Integer")
        if not 1 <= limit <= 200:
            return _json_error(400, "limit must be between 1 and 200")
        items = self.transcripts.store.ordered()
        if q.get("status"):
            items = [r for r in items if r["status"] == q["status"]]
        if q.get("throttled_only", "").lower() == "true":
            items = [r for r in items if r.get("throttled")]
        if q.get("created_on"):
            items = [r for r in items if r["_created"].startswith(q["created_on"])]
        ids = [r["id"] for r in items]
        before, after = q.get("before_id"), q.get("after_id")
        if before and after and before in ids and after in ids and ids.index(after) <= ids.index(before):
            return _json_error(400, "'after_id' must be a newer transcript than 'before_id'")
        if before:
            items = items[ids.index(before) + 1:] if before in ids else []
        if after:
            items = [r for r in items if r["id"] in ids[: ids.index(after)]] if after in ids else []
        page = items[:limit] if not after else items[-limit:]
        base = f"{self._base_url(request)}/v2/transcript"
        details = {"limit": limit, "result_count": len(page),
                   "current_url": f"{base}?{request.query_string}".rstrip("?"),
                   "prev_url": f"{base}?limit={limit}&before_id={page[-1]['id']}" if page else None,
                   "next_url": f"{base}?limit={limit}&after_id={page[0]['id']}" if page else None}
        transcripts = [{"id": r["id"], "resource_url": f"{base}/{r['id']}", "status": r["status"],
                        "created": r["_created"], "completed": r.get("_completed"), "audio_url": r["audio_url"],
                        "error": r.get("error")} for r in page]
        return web.json_response({"page_details": details, "transcripts": transcripts})

    async def get_sentences(self, request: web.Request) -> web.Response:
        rec = self._completed(request)
        return web.json_response({"id": rec["id"], "confidence": rec["confidence"] or 0.0,
                                  "audio_duration": rec["audio_duration"],
                                  "speech_model_used": rec["speech_model_used"],
                                  "sentences": rendering.sentences(rec["words"] or [])})

    async def get_paragraphs(self, request: web.Request) -> web.Response:
        rec = self._completed(request)
        return web.json_response({"id": rec["id"], "confidence": rec["confidence"] or 0.0,
                                  "audio_duration": rec["audio_duration"],
                                  "speech_model_used": rec["speech_model_used"],
                                  "paragraphs": rendering.paragraphs(rec["words"] or [])})

    async def word_search(self, request: web.Request) -> web.Response:
        rec = self._completed(request)
        terms = [t.strip().lower() for t in request.query.get("words", "").split(",") if t.strip()]
        words = rec["words"] or []
        norm = [w["text"].lower().strip(".,?!;:\"'") for w in words]
        matches = []
        for term in terms:
            parts = term.split()
            idx = [i for i in range(len(norm) - len(parts) + 1) if norm[i:i + len(parts)] == parts]
            matches.append({"text": term, "count": len(idx), "indexes": idx,
                            "timestamps": [[words[i]["start"], words[i + len(parts) - 1]["end"]] for i in idx]})
        return web.json_response({"id": rec["id"], "total_count": sum(m["count"] for m in matches), "matches": matches})

    async def get_subtitles(self, request: web.Request) -> web.Response:
        fmt = request.match_info["subtitle_format"]
        if fmt not in ("vtt", "srt"):
            self._lookup(request)  # unknown id first, like the real routing
            return _json_error(404, "Not found")
        rec = self._completed(request)
        raw = request.query.get("chars_per_caption")
        try:
            chars = int(raw) if raw else None
        except ValueError:
            return _json_error(400, "chars_per_caption must be an Integer")
        words = rec["words"] or []
        text = rendering.to_vtt(words, chars) if fmt == "vtt" else rendering.to_srt(words, chars)
        return web.Response(text=text, content_type="text/plain")

    # -- LLM gateway ------------------------------------------------------------------------------
    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _gateway_error(GatewayError(400, "Invalid JSON in request body"))
        try:
            response = await self.chat.complete(body)
        except GatewayError as exc:
            return _gateway_error(exc)
        remaining = response.pop("_ratelimit_remaining", None)
        response = self._spoil_answer(request, response)
        headers = {"X-RateLimit-Remaining": str(remaining)} if remaining is not None else {}
        if isinstance(body, dict) and body.get("stream"):
            return await self._sse(request, response, headers)
        return web.json_response(response, headers=headers)

    async def _sse(self, request: web.Request, response: dict, headers: dict[str, str]) -> web.StreamResponse:
        stream = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                             **headers})
        await stream.prepare(request)
        content = response["choices"][0]["message"]["content"] or ""
        base = {"id": response["id"], "object": "chat.completion.chunk", "created": response["created"],
                "model": response["model"]}
        pieces = [content[i:i + 64] for i in range(0, len(content), 64)]
        chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                        "finish_reason": None}]}]
        chunks += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
        usage = response["usage"]
        chunks.append({**base, "choices": [{"index": 0, "delta": {},
                                            "finish_reason": response["choices"][0]["finish_reason"]}],
                       "usage": {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}})
        for chunk in chunks:
            await stream.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await stream.write(b"data: [DONE]\n\n")
        await stream.write_eof()
        return stream

    async def list_models(self, request: web.Request) -> web.Response:
        data = []
        for model in self.cfg.llm.models:
            creator = ("anthropic" if model.startswith("claude") else "openai" if model.startswith("gpt")
                       else "google" if model.startswith("gemini") else "other")
            data.append({
                "id": model, "name": model, "description": f"{model} (answered by the local {self.cfg.llm.engine} "
                                                           f"engine)",
                "default_parameters": {}, "supported_parameters": ["max_tokens", "temperature", "response_format",
                                                                   "tools", "tool_choice"],
                "top_provider": {"is_moderated": False, "context_length": 200000, "max_completion_tokens": 32000},
                "context_length": 200000, "pricing": {"global": {"prompt": 0.0, "completions": 0.0}},
                "creator": creator, "retirement_date": 0, "available_regions": ["local"],
                "providers": [{"id": "local", "name": "local"}], "default_provider": {"id": "local", "name": "local"}})
        return web.json_response({"data": data})

    # -- streaming --------------------------------------------------------------------------------
    async def streaming_token(self, request: web.Request) -> web.Response:
        try:
            expires = int(request.query["expires_in_seconds"])
            max_session = int(request.query.get("max_session_duration_seconds", 10800))
        except (KeyError, ValueError):
            return _json_error(400, "expires_in_seconds is required and must be an integer")
        if not 1 <= expires <= self.cfg.streaming.token_max_expires_seconds:
            return _json_error(400, f"expires_in_seconds must be between 1 and "
                                    f"{self.cfg.streaming.token_max_expires_seconds}")
        if not 60 <= max_session <= 10800:
            return _json_error(400, "max_session_duration_seconds must be between 60 and 10800")
        token = "tmp_" + secrets.token_urlsafe(24)
        self.tokens[token] = TempToken(time.time() + expires, float(max_session))
        now = time.time()
        for t in [t for t, v in self.tokens.items() if v.expires_at < now - 3600]:
            del self.tokens[t]  # forget long-expired tokens
        return web.json_response({"token": token, "expires_in_seconds": expires})

    def _ws_auth(self, request: web.Request) -> tuple[bool, str, float | None]:
        """(ok, reason, token max session seconds)."""
        candidates = [k for k in (self._key_of(request), request.query.get("token", "")) if k]
        if not candidates:
            return False, "Unauthorized Connection: Missing Authorization header", None
        for key in candidates:
            if key in self.tokens:
                tok = self.tokens[key]
                if tok.used:
                    return False, "Unauthorized Connection: Temporary token has already been used", None
                if tok.expires_at < time.time():
                    return False, "Unauthorized Connection: Temporary token has expired", None
                tok.used = True
                return True, "", tok.max_session_seconds
            if self.key_valid(key):
                return True, "", None
        return False, "Unauthorized Connection: Invalid API key or token", None

    async def streaming_ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 2**20)
        await ws.prepare(request)
        ok, reason, token_max = self._ws_auth(request)
        if not ok:
            self.stats.incr("events", "ws_close_1008")
            await ws.send_str(json.dumps({"type": "Error", "error_code": 1008, "error": reason}))
            await ws.close(code=1008, message=reason.encode()[:120])
            return ws
        limit = self.cfg.streaming.max_concurrent_sessions
        if limit is not None and self.sessions >= limit:
            self.stats.incr("events", "ws_close_3009")
            msg = "Unauthorized Connection: Too many concurrent sessions"
            await ws.send_str(json.dumps({"type": "Error", "error_code": 3009, "error": msg}))
            await ws.close(code=3009, message=msg.encode())
            return ws
        try:
            params = SessionParams.from_query(dict(request.query))
        except SessionClose as exc:
            await ws.send_str(json.dumps({"type": "Error", "error_code": exc.code, "error": exc.reason}))
            await ws.close(code=exc.code, message=exc.reason.encode()[:120])
            return ws
        close_fault = drop_fault = None
        for rule in self.faults.match("streaming", actions=WS_ACTIONS):
            if rule.action == "ws_close" and close_fault is None:
                self.stats.incr("faults", "streaming:ws_close")
                close_fault = (int(rule.close_code), rule.reason or rule.message or
                               "Session Cancelled: An error occurred", float(rule.after_seconds))
            elif rule.action == "ws_drop" and drop_fault is None:
                self.stats.incr("faults", "streaming:ws_drop")
                drop_fault = float(rule.after_seconds)
        max_session = min(self.cfg.streaming.max_session_seconds, token_max or float("inf"))

        async def chat(cfg: dict, turn_text: str) -> dict:
            try:
                resp = await self.chat.complete(cfg, turn_text=turn_text)
            except GatewayError as exc:
                exc.envelope = {"message": exc.message, "code": exc.status, "metadata": {"errors": exc.errors}}
                raise
            resp.pop("_ratelimit_remaining", None)
            return resp

        self.sessions += 1
        self.stats.incr("events", "ws_sessions")
        session = StreamingSession(ws, params, self.engine, self.cfg.streaming, chat, max_session, close_fault,
                                   on_event=lambda name: self.stats.incr("events", name), drop_fault=drop_fault,
                                   transport=request.transport)
        try:
            await session.run()
        except Exception as exc:  # an engine bug must still end the session the documented way
            log.exception("streaming session failed")
            if not ws.closed:
                await ws.send_str(json.dumps({"type": "Error", "error_code": 3005,
                                              "error": "Session Cancelled: An error occurred"}))
                await ws.close(code=3005, message=b"Session Cancelled: An error occurred")
            self.stats.incr("events", f"ws_internal_error:{type(exc).__name__}")
        finally:
            self.sessions -= 1
        return ws

    # -- admin ------------------------------------------------------------------------------------
    async def admin_stats(self, request: web.Request) -> web.Response:
        snap = self.stats.snapshot()
        snap["jobs"] = {"running": self.transcripts.running, "queued": self.transcripts.queue.qsize(),
                        "concurrency": self.cfg.concurrency,
                        "by_status": _count_by(self.transcripts.store.records.values())}
        snap["streaming"] = {"active_sessions": self.sessions}
        return web.json_response(snap)

    async def admin_stats_reset(self, request: web.Request) -> web.Response:
        self.stats.reset()
        return web.json_response({"status": "ok"})

    async def admin_faults_get(self, request: web.Request) -> web.Response:
        return web.json_response({"rules": self.faults.to_list()})

    async def admin_faults_set(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            rules = body["rules"] if isinstance(body, dict) else body
            if isinstance(body, dict) and body.get("mode") == "append":
                self.faults.add(rules)
            else:
                self.faults.replace(rules)
        except (json.JSONDecodeError, KeyError, TypeError, FaultConfigError) as exc:
            return _json_error(400, f"invalid fault rules: {exc}")
        return web.json_response({"rules": self.faults.to_list()})

    async def admin_faults_clear(self, request: web.Request) -> web.Response:
        self.faults.replace([])
        return web.json_response({"rules": []})

    async def admin_config_get(self, request: web.Request) -> web.Response:
        data = self.cfg.to_dict()
        data["runtime_keys"] = list(config_mod.RUNTIME_KEYS)
        return web.json_response(data)

    async def admin_config_set(self, request: web.Request) -> web.Response:
        try:
            update = await request.json()
            self._cfg = config_mod.apply_runtime_update(self._cfg, update)
        except (json.JSONDecodeError, ConfigError, TypeError) as exc:
            return _json_error(400, f"invalid config update: {exc}")
        return web.json_response(self.cfg.to_dict())


def _count_by(records) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def build(cfg: ServerConfig) -> tuple[LocalAssemblyAI, web.Application]:
    server = LocalAssemblyAI(cfg)
    return server, server.make_app()
