"""Fault injection (config + admin API) and the request counters other suites assert on."""

from __future__ import annotations

import pytest
import requests

from .helpers import Api


@pytest.fixture
def api(server, clean_faults) -> Api:
    return Api(server.base_url, server.api_key)


def test_next_n_429_with_retry_after_then_success(api, admin):
    admin.set_faults([{"group": "transcript", "action": "429", "next_n": 2, "retry_after": 7, "method": "GET"}])
    before = admin.stats()["faults_injected"].get("transcript:429", 0)
    codes = []
    for _ in range(3):
        r = requests.get(f"{api.base_url}/v2/transcript", headers=api.headers, timeout=5)
        codes.append(r.status_code)
        if r.status_code == 429:
            assert r.headers["Retry-After"] == "7" and r.json() == {"error": "Too Many Requests"}
    assert codes == [429, 429, 200]
    assert admin.stats()["faults_injected"]["transcript:429"] == before + 2


def test_every_nth_5xx_on_upload(api, admin, samples_dir):
    admin.set_faults([{"group": "upload", "action": "5xx", "status": 503, "every_nth": 2}])
    data = (samples_dir / "_errors" / "silence.wav").read_bytes()
    codes = [requests.post(f"{api.base_url}/v2/upload", data=data, headers=api.headers, timeout=5).status_code
             for _ in range(4)]
    assert codes == [200, 503, 200, 503]


def test_probability_faults_are_deterministic_with_a_seed(api, admin):
    def run() -> list[int]:
        admin.set_faults([{"group": "transcript", "action": "5xx", "probability": 0.5, "seed": 42}])
        return [requests.get(f"{api.base_url}/v2/transcript", headers=api.headers, timeout=5).status_code
                for _ in range(12)]
    first, second = run(), run()
    assert first == second and 500 in first and 200 in first


def test_latency_fault_is_applied_and_counted(api, admin):
    admin.set_faults([{"group": "any", "action": "latency", "latency_ms": 50, "next_n": 1}])
    r = requests.get(f"{api.base_url}/v2/transcript", headers=api.headers, timeout=5)
    assert r.status_code == 200
    assert admin.stats()["faults_injected"].get("transcript:latency", 0) >= 1
    assert admin.set_faults([])["rules"] == []


def test_dropped_connection(api, admin):
    admin.set_faults([{"group": "transcript", "action": "drop", "next_n": 1}])
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{api.base_url}/v2/transcript", headers=api.headers, timeout=5)
    assert requests.get(f"{api.base_url}/v2/transcript", headers=api.headers, timeout=5).status_code == 200


def test_job_error_fault(api, admin, samples_dir):
    admin.set_faults([{"group": "jobs", "action": "job_error", "next_n": 1, "message": "Injected failure"}])
    t = api.transcribe(samples_dir / "_errors" / "silence.wav")
    assert t["status"] == "error" and t["error"] == "Injected failure"
    assert api.transcribe(samples_dir / "_errors" / "silence.wav")["status"] == "completed"


def test_llm_faults_use_the_gateway_envelope(api, admin):
    admin.set_faults([{"group": "llm", "action": "429", "next_n": 1, "retry_after": 3}])
    r = api.chat({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    assert r.json()["message"] == "Too Many Requests" and r.json()["request_id"]
    assert api.chat({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}).status_code == 200


def test_invalid_fault_rules_are_rejected(admin):
    r = requests.post(f"{admin.base_url}/_local/faults", json={"rules": [{"group": "nowhere", "action": "429"}]},
                      headers=admin.headers, timeout=5)
    assert r.status_code == 400 and "fault group" in r.json()["error"]


def test_admin_api_requires_a_key(server):
    assert requests.get(f"{server.base_url}/_local/stats", timeout=5).status_code == 401


def test_stats_count_transcript_posts_and_llm_requests_per_model(api, admin):
    before = admin.stats()
    api.submit({"audio_url": "https://example.com/a.wav", "speech_models": ["universal-2"], "bad": 1})
    api.chat({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hello there"}]})
    after = admin.stats()
    assert after["requests"]["POST /v2/transcript"] == before["requests"].get("POST /v2/transcript", 0) + 1
    assert after["llm_requests_by_model"]["gemini-2.5-flash"] == \
        before["llm_requests_by_model"].get("gemini-2.5-flash", 0) + 1
    assert after["responses_by_status"]["400"] >= 1 and "jobs" in after


def test_per_model_rate_limit_configured_at_run_time(api, admin):
    assert admin.update_config({"llm": {"rate_limit_per_minute": {"gpt-5-mini": 2}}}).status_code == 200
    try:
        body = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}]}
        codes = [api.chat(body) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert 1 <= int(codes[2].headers["Retry-After"]) <= 60
        assert codes[2].json()["metadata"]["errors"] == ["rate limit exceeded for gpt-5-mini"]
        other = api.chat({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]})
        assert other.status_code == 200  # the limit is per model
    finally:
        admin.update_config({"llm": {"rate_limit_per_minute": None}})


def test_config_update_rejects_restart_only_keys(admin):
    r = admin.update_config({"speech_model": "base"})
    assert r.status_code == 400 and "not changeable at run time" in r.json()["error"]
