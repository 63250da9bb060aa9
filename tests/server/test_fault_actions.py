"""Fault actions that spoil an LLM answer (garbage / truncated / refusal) and faults that strike after the request
was handled (stage "response"): the POST went through, the answer was lost."""

from __future__ import annotations

import json

import pytest
import requests

from local_assemblyai.faults import DEFAULT_REFUSAL, truncated_text

from .helpers import Api

ACTION_ITEMS_REQUEST = {
    "model": "gpt-4.1",
    "messages": [{"role": "user", "content": "List the action items.\n"
                  "[0.0-3.0] A: I will send you the invoice tomorrow.\n"
                  "[3.0-6.0] B: Could you also email the contract, please?"}],
    "response_format": {"type": "json_schema", "json_schema": {"name": "call_action_items",
                                                               "schema": {"type": "object"}}},
}


@pytest.fixture
def api(server, clean_faults) -> Api:
    return Api(server.base_url, server.api_key)


def chat(api: Api, body: dict, timeout: float = 60) -> requests.Response:
    return requests.post(f"{api.base_url}/v1/chat/completions", json=body, headers=api.headers, timeout=timeout)


def content_of(response: requests.Response) -> str:
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    return body["choices"][0]["message"]["content"]


def test_garbage_answer_is_a_well_formed_200_whose_content_is_not_json(api, admin):
    admin.set_faults([{"group": "llm", "action": "garbage", "next_n": 1, "seed": 7}])
    before = admin.stats()["faults_injected"].get("llm:garbage", 0)

    spoiled = chat(api, ACTION_ITEMS_REQUEST)
    text = content_of(spoiled)
    with pytest.raises(ValueError):
        json.loads(text)
    assert text.strip() and spoiled.json()["choices"][0]["finish_reason"] == "stop"
    usage = spoiled.json()["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > usage["prompt_tokens"]
    assert admin.stats()["faults_injected"]["llm:garbage"] == before + 1
    # the next answer is the real one again
    assert "action_items" in json.loads(content_of(chat(api, ACTION_ITEMS_REQUEST)))


def test_truncated_answer_is_cut_mid_json_with_finish_reason_length(api, admin):
    whole = content_of(chat(api, ACTION_ITEMS_REQUEST))
    admin.set_faults([{"group": "llm", "action": "truncated", "next_n": 1}])

    spoiled = chat(api, ACTION_ITEMS_REQUEST)
    text = content_of(spoiled)
    assert spoiled.json()["choices"][0]["finish_reason"] == "length"
    assert text and whole.startswith(text) and len(text) < len(whole)
    with pytest.raises(ValueError):
        json.loads(text)


def test_truncated_stream_ends_with_finish_reason_length(api, admin):
    admin.set_faults([{"group": "llm", "action": "truncated", "next_n": 1}])
    r = requests.post(f"{api.base_url}/v1/chat/completions", json={**ACTION_ITEMS_REQUEST, "stream": True},
                      headers=api.headers, timeout=60)
    chunks = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    with pytest.raises(ValueError):
        json.loads(streamed)


def test_refusal_answer_default_and_custom_text(api, admin):
    admin.set_faults([{"group": "llm", "action": "refusal", "next_n": 1},
                      {"group": "llm", "action": "refusal", "next_n": 1, "message": "I cannot assist."}])
    assert content_of(chat(api, ACTION_ITEMS_REQUEST)) == DEFAULT_REFUSAL
    assert content_of(chat(api, ACTION_ITEMS_REQUEST)) == "I cannot assist."


def test_drop_after_the_job_was_created_loses_the_answer_not_the_job(api, admin, samples_dir):
    audio_url = api.upload(samples_dir / "_errors" / "silence.wav")
    body = {"audio_url": audio_url, "speech_models": ["universal-3-pro"]}
    # the default stage drops the connection before the request is read: no job
    admin.set_faults([{"group": "transcript", "action": "drop", "method": "POST", "next_n": 1}])
    created = admin.stats()["events"].get("transcripts_created", 0)
    with pytest.raises(requests.ConnectionError):
        api.submit(body)
    assert admin.stats()["events"].get("transcripts_created", 0) == created

    admin.set_faults([{"group": "transcript", "action": "drop", "stage": "response", "method": "POST",
                       "next_n": 1}])
    with pytest.raises(requests.ConnectionError):
        api.submit(body)

    assert admin.stats()["events"]["transcripts_created"] == created + 1
    assert admin.stats()["faults_injected"]["transcript:drop:response"] == 1
    newest = requests.get(f"{api.base_url}/v2/transcript", params={"limit": 1}, headers=api.headers,
                          timeout=30).json()["transcripts"][0]
    assert newest["audio_url"] == audio_url


def test_latency_after_the_answer_is_computed_outlasts_the_client_timeout(api, admin):
    admin.set_faults([{"group": "llm", "action": "latency", "stage": "response", "latency_ms": 30000,
                       "next_n": 1}])
    counted = admin.stats()["llm_requests_by_model"].get("gpt-4.1", 0)

    with pytest.raises(requests.ReadTimeout):
        chat(api, ACTION_ITEMS_REQUEST, timeout=5)

    # the gateway answered (the request was counted) and only the response is held back
    assert admin.stats()["llm_requests_by_model"]["gpt-4.1"] == counted + 1
    assert admin.stats()["faults_injected"]["llm:latency:response"] == 1


def test_a_5xx_after_the_job_was_created(api, admin, samples_dir):
    audio_url = api.upload(samples_dir / "_errors" / "silence.wav")
    admin.set_faults([{"group": "transcript", "action": "5xx", "status": 502, "stage": "response",
                       "method": "POST", "next_n": 1}])
    created = admin.stats()["events"].get("transcripts_created", 0)
    assert api.submit({"audio_url": audio_url, "speech_models": ["universal-3-pro"]}).status_code == 502
    assert admin.stats()["events"]["transcripts_created"] == created + 1


@pytest.mark.parametrize("rule, error", [
    ({"group": "transcript", "action": "garbage"}, "use group 'llm'"),
    ({"group": "llm", "action": "latency", "stage": "later"}, "stage must be one of"),
    ({"group": "jobs", "action": "job_error", "stage": "response"}, "stage applies to"),
    ({"group": "llm", "action": "refusal", "stage": "response"}, "stage applies to"),
])
def test_invalid_fault_rules_are_refused(api, rule, error):
    r = requests.post(f"{api.base_url}/_local/faults", json={"rules": [rule]}, headers=api.headers, timeout=30)
    assert r.status_code == 400 and error in r.json()["error"]


@pytest.mark.parametrize("content", ['{"action_items": [{"item": "Send the invoice"}]}', "{}", "", "[1, 2, 3]"])
def test_truncated_text_never_parses(content):
    cut = truncated_text(content)
    assert cut and cut != content
    with pytest.raises(ValueError):
        json.loads(cut)
