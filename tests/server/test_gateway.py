"""LLM Gateway rules: substitution, validation, errors, fallbacks, and the proxy engine (against a double)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import start_aai_server

from .helpers import Api, RecordingHttpDouble

COMPACT_HEADER = "Transcript (one line per utterance: [start-end seconds] speaker: text):"


def compact(truth: dict) -> str:
    role = {"agent": "A", "customer": "B"}
    return COMPACT_HEADER + "\n" + "\n".join(f"[{u['start']:.1f}-{u['end']:.1f}] {role[u['speaker']]}: {u['text']}"
                                            for u in truth["utterances"])


@pytest.fixture(scope="module")
def api(server) -> Api:
    return Api(server.base_url, server.api_key)


@pytest.fixture(scope="module")
def silence_transcript(api, samples_dir) -> dict:
    return api.transcribe(samples_dir / "_errors" / "silence.wav")


def test_gateway_401_envelope(api):
    r = api.chat({"model": "gpt-4.1", "prompt": "hi"}, headers={"Authorization": "nope"})
    body = r.json()
    assert r.status_code == 401 and body["error"].startswith("Authentication error") and body["request_id"]


@pytest.mark.parametrize("body, status, error", [
    ({"model": "gpt-7-ultra", "prompt": "hi"}, 400, "model gpt-7-ultra is not supported"),
    ({"model": "gpt-4.1"}, 400, "one of messages or prompt required"),
    ({"model": "gpt-4.1", "prompt": "x", "transcript_id": "missing"}, 404, "transcript_id not found"),
    ({"model": "gpt-4.1", "prompt": "x", "fallbacks": [{"model": "nope-1"}]}, 400, "model nope-1 is not supported"),
])
def test_gateway_validation_errors(api, body, status, error):
    r = api.chat(body)
    assert r.status_code == status
    assert error in r.json()["metadata"]["errors"]
    assert r.json()["error"]["code"] == status


def test_prompt_shorthand_and_superset_response(api):
    r = api.chat({"model": "claude-haiku-4-5-20251001", "prompt": "The refund was approved. The customer is happy. "
                                                                  "The technician comes on Thursday."})
    body = r.json()
    assert r.status_code == 200 and body["choices"][0]["message"]["content"].startswith("[offline extractive answer]")
    u = body["usage"]
    assert u["input_tokens"] == u["prompt_tokens"] and u["output_tokens"] == u["completion_tokens"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    assert body["request"]["model"] == "claude-haiku-4-5-20251001" and "prompt" not in body["request"]
    assert isinstance(body["response_time"], int) and body["choices"][0]["index"] == 0


def test_offline_call_analysis_from_compact_lines(api, truth):
    t = truth("northwind_outage_refund")
    schema = {"type": "object", "properties": {
        "phases": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"enum": ["Introduction", "Complaint", "Resolution", "Goodbye", "Other"]}}}},
        "answers": {"type": "array", "items": {"type": "object", "properties": {"question": {"enum": [
            "What was the sentiment of the customer in this call?",
            "Provide a quote from the agent that demonstrates their level of enthusiasm."]}}}},
        "action_items": {"type": "array"}}}
    r = api.chat({"model": "gpt-4.1", "messages": [{"role": "system", "content": "You analyse calls."},
                                                   {"role": "user", "content": compact(t)}],
                  "response_format": {"type": "json_schema",
                                      "json_schema": {"name": "call_analysis", "schema": schema, "strict": True}}})
    result = json.loads(r.json()["choices"][0]["message"]["content"])
    names = [p["name"] for p in result["phases"]]
    assert names == ["Introduction", "Complaint", "Resolution", "Goodbye"]
    assert result["phases"][0]["start_time"] == 1.0 and result["phases"][-1]["end_time"] == t["utterances"][-1]["end"] \
        or abs(result["phases"][-1]["end_time"] - t["utterances"][-1]["end"]) < 0.06
    message_text = compact(t)
    for answer in result["answers"]:
        assert answer["quote"] and answer["quote"] in message_text and answer["reason"]
    assert result["answers"][0]["answer"].split(":")[0] in ("Positive", "Negative", "Neutral")
    items = {i["item"].lower(): i for i in result["action_items"]}
    refund = next(v for k, v in items.items() if "refund" in k)
    assert refund["owner"] == "agent" and refund["due_date"] == "today"
    assert any("technician" in k for k in items)


def test_seed_style_transcript_id_substitution_uses_stored_transcript(api, silence_transcript, truth):
    r = api.chat({"model": "claude-sonnet-4-5-20250929", "transcript_id": silence_transcript["id"],
                  "messages": [{"role": "user", "content": "Action items:\n\n{{ transcript }}"}],
                  "response_format": {"type": "json_schema", "json_schema": {"name": "call_action_items",
                                                                             "schema": {"type": "object"}}}})
    assert r.status_code == 200
    assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"action_items": []}  # silence: nothing


@pytest.fixture(scope="module")
def openai_double():
    """An OpenAI-compatible upstream test double: echoes the received messages as JSON; model
    'broken-upstream' answers 500."""
    def respond(double, handler, body):
        req = json.loads(body)
        if req["model"] == "broken-upstream":
            return 500, {"Content-Type": "application/json"}, b'{"error": {"message": "boom"}}'
        reply = {"id": "x", "object": "chat.completion", "model": req["model"],
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": json.dumps(req["messages"])}}],
                 "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
        return 200, {"Content-Type": "application/json"}, json.dumps(reply).encode()
    double = RecordingHttpDouble(respond)
    yield double
    double.stop()


@pytest.fixture(scope="module")
def proxy_server(tmp_path_factory, stt_cache, openai_double, monkeypatch_module):
    monkeypatch_module.setenv("DOUBLE_UPSTREAM_KEY", "upstream-secret")
    srv = start_aai_server(tmp_path_factory.mktemp("proxy"), {
        "cache_dir": str(stt_cache),
        "llm": {"engine": "proxy", "base_url": openai_double.url + "/v1", "api_key_env": "DOUBLE_UPSTREAM_KEY",
                "model_map": {"claude-sonnet-4-6": "local-small", "gpt-oss-20b": "broken-upstream"}}})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_proxy_engine_exact_first_tag_substitution(proxy_server, openai_double, samples_dir):
    api = Api(proxy_server.base_url, proxy_server.api_key)
    t = api.transcribe(samples_dir / "fabrikam_billing_question" / "mono.wav")
    messages = [{"role": "system", "content": "no tag here {{transcript}}"},
                {"role": "user", "content": "A: {{ transcript }} B: {{ transcript }}"},
                {"role": "user", "content": "later {{ transcript }}"}]
    r = api.chat({"model": "claude-sonnet-4-6", "transcript_id": t["id"], "messages": messages})
    assert r.status_code == 200, r.text
    upstream = openai_double.json_bodies()[-1]
    assert upstream["model"] == "local-small"
    assert openai_double.requests[-1]["headers"]["Authorization"] == "Bearer upstream-secret"
    sent = upstream["messages"]
    assert sent[0]["content"] == "no tag here {{transcript}}"
    assert sent[1]["content"] == f"A: {t['text']} B: {{{{ transcript }}}}"
    assert sent[2]["content"] == "later {{ transcript }}"
    body = r.json()
    assert json.loads(body["choices"][0]["message"]["content"]) == sent
    assert body["usage"]["prompt_tokens"] == 11 and body["usage"]["total_tokens"] == 18


def test_proxy_engine_fallback_on_upstream_failure(proxy_server, openai_double):
    api = Api(proxy_server.base_url, proxy_server.api_key)
    r = api.chat({"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "hi"}],
                  "fallbacks": [{"model": "gpt-4.1", "temperature": 0.1}]})
    assert r.status_code == 200 and r.json()["model"] == "gpt-4.1"
    assert r.json()["request"]["temperature"] == 0.1
    assert [b["model"] for b in openai_double.json_bodies()[-2:]] == ["broken-upstream", "gpt-4.1"]
    failed = api.chat({"model": "gpt-oss-20b", "messages": [{"role": "user", "content": "hi"}],
                       "fallback_config": {"retry": False}})
    assert failed.status_code == 500 and "all models failed" in failed.json()["message"]
