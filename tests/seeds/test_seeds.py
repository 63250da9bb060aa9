"""The tutorials (/work/shared/seeds 000-004) run as a new user would, against the local server: their own
Python, with only the endpoints, the key and the input file swapped (002 also gets the `speech_models` the
current API requires; 001 is 000 rendered without indentation, re-indented from 000 line by line). The
answers come from the offline LLM Gateway engine and must have the shape the prompts ask for."""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from samples.evaluate import phase_accuracy

from .extract import local, seed_000, seed_001, seed_002, seed_003, seed_004, swap

PHASES = ["Introduction", "Complaint", "Resolution", "Goodbye"]
_STOP = set("the a an to of and or for on in at by with from your my our their you i we it is be will".split())
_NUMBERS = set("one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty sixty "
               "seventy eighty ninety hundred thousand dollars".split())


def upload(server, path) -> str:
    with open(path, "rb") as f:
        r = requests.post(server.base_url + "/v2/upload", headers={"authorization": server.api_key}, data=f,
                          timeout=60)
    r.raise_for_status()
    return r.json()["upload_url"]


def run_seed(code: str, name: str, tmp_path, monkeypatch) -> tuple[dict, str]:
    """exec the tutorial's code as a script in an empty directory; (its globals, what it printed)."""
    monkeypatch.chdir(tmp_path)
    ns: dict = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, name, "exec"), ns)  # noqa: S102 - the tutorial's own code is what is under test
    return ns, out.getvalue()


def check_phases(result: str, truth: dict) -> list[dict]:
    """Parsed as the tutorial expects (json.loads of the content); the prompt's keys; in order; the whole call."""
    data = json.loads(result)
    phases = data["phases"]
    assert phases and all(set(p) == {"name", "start_time", "end_time", "summary"} for p in phases), phases
    names = [p["name"] for p in phases]
    assert set(names) <= set(PHASES) | {"Other"}
    order = [PHASES.index(n) for n in names if n in PHASES]
    assert order == sorted(order) and order[0] == 0 and order[-1] == len(PHASES) - 1, names
    for a, b in zip(phases, phases[1:], strict=False):
        assert a["start_time"] < a["end_time"] <= b["start_time"] + 0.01
    assert phases[0]["start_time"] <= truth["utterances"][0]["start"] + 1.0
    assert phases[-1]["end_time"] >= truth["utterances"][-1]["end"] - 1.0
    for p in phases:
        assert isinstance(p["summary"], str) and len(p["summary"].split()) >= 4
        assert not p["summary"].startswith("[offline")
    assert phase_accuracy(phases, truth) >= 0.6, (phase_accuracy(phases, truth), phases)
    return phases


def test_000_segment_a_phone_call(seeds_available, seed_server, seed_samples, seed_truth, tmp_path, monkeypatch):
    audio = seed_samples / "contoso_map_update" / "mono.mp3"
    code = local(seed_000(), seed_server.base_url, seed_server.api_key, extra={"./my-audio.mp3": str(audio)})
    ns, printed = run_seed(code, "seed_000", tmp_path, monkeypatch)
    assert ns["result"] in printed
    check_phases(ns["result"], seed_truth("contoso_map_update"))


def test_001_segment_a_phone_call_text_rendering(seeds_available, seed_server, seed_samples, seed_truth, tmp_path,
                                                 monkeypatch):
    audio = seed_samples / "fabrikam_billing_question" / "mono.mp3"
    code = local(seed_001(), seed_server.base_url, seed_server.api_key, extra={"./my-audio.mp3": str(audio)})
    ns, _ = run_seed(code, "seed_001", tmp_path, monkeypatch)
    check_phases(ns["result"], seed_truth("fabrikam_billing_question"))


def test_002_five_questions_five_answers(seeds_available, seed_server, seed_samples, tmp_path, monkeypatch):
    audio = seed_samples / "contoso_map_update" / "mono.mp3"
    code = local(seed_002(), seed_server.base_url, seed_server.api_key, extra={
        "./meeting.mp3": str(audio),
        # the current API rejects a transcript request without speech_models (the tutorial predates that)
        'json={"audio_url": audio_url},': 'json={"audio_url": audio_url, "speech_models": ["universal-3-pro"]},'})
    ns, printed = run_seed(code, "seed_002", tmp_path, monkeypatch)
    output = ns["llm_output"]
    assert output in printed and not output.startswith("[offline")
    blocks = re.findall(r"(?ms)^(\d+)\. (.+?)\nAnswer: (.+?)(?=\n\n\d+\. |\Z)", output)
    assert [int(b[0]) for b in blocks] == [1, 2, 3, 4, 5], output
    asked = [q["question"] for q in ns["questions"]]
    assert [b[1] for b in blocks] == asked
    text = requests.get(f"{seed_server.base_url}/v2/transcript/{ns['transcript_id']}",
                        headers={"authorization": seed_server.api_key}, timeout=30).json()["text"]
    for (_, question, answer) in blocks:
        # "<answer in one sentence> <reason in one sentence>": two sentences at least
        assert len(re.findall(r"[.!?\"](?:\s|$)", answer)) >= 2, answer
        if "sentiment" in question:
            assert re.search(r"\b(positive|negative|neutral)\b", answer), answer
        if "quote" in question.lower():
            quoted = re.match(r'^"(.+?)"', answer)
            assert quoted and quoted.group(1) in text, answer


def _covered(bullets: list[str], commitment: dict) -> bool:
    """A bullet that starts with the commitment's verb and names its object (half of the other, non-number
    content words) or its due date as said (the espeak audio is heard imperfectly: "the bill" -> "the mill")."""
    verb, *rest = [w for w in re.findall(r"[a-z]+", commitment["item"].lower()) if w not in _STOP]
    words = [w[:5] for w in rest if w not in _NUMBERS]
    due = (commitment.get("due") or "").lower()
    for b in bullets:
        low = b.lower()
        if low.startswith(verb) and (sum(w in low for w in words) >= max(1, len(words) / 2) or due and due in low):
            return True
    return False


@pytest.mark.parametrize("call", ["fabrikam_billing_question", "contoso_map_update"])
def test_003_action_items_are_bullets_naming_the_commitments(seeds_available, seed_server, seed_samples, seed_truth,
                                                             call):
    audio_url = upload(seed_server, seed_samples / call / "mono.mp3")
    code = local(seed_003(), seed_server.base_url, seed_server.api_key,
                 extra={"https://storage.googleapis.com/aai-web-samples/meeting.mp4": audio_url})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "seed_003", "exec"), {"__name__": "__main__"})  # noqa: S102
    answer = out.getvalue().split("Transcription status")[-1]
    bullets = [m.group(1) for m in re.finditer(r"(?m)^\s*[-*\u2022]\s+(.+)$", answer)]
    assert bullets, answer
    commitments = seed_truth(call)["action_items"]
    for c in commitments:
        assert _covered(bullets, c), (c, bullets)
    assert len(bullets) <= len(commitments) + 1, bullets  # no padding
    for b in bullets:
        assert b[0].isupper() and len(b.split()) >= 3  # complete imperative items, not fragments


@pytest.mark.mic
def test_004_streaming_summary_per_turn(seeds_available, seed_server, seed_samples, virtual_mic, tmp_path):
    """The raw-WebSocket sample with PyAudio, capturing from the edge tests' PulseAudio virtual microphone while
    the sample call plays into it; Ctrl+C (SIGINT) ends it as the tutorial says."""
    code = local(seed_004(), seed_server.base_url, seed_server.api_key, ws_url=seed_server.ws_url)
    script = tmp_path / "seed_004.py"
    script.write_text(code)
    log = tmp_path / "seed_004.log"
    env = {**virtual_mic, "PYTHONUNBUFFERED": "1"}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=env, stdout=fh,
                                stderr=subprocess.STDOUT)
    player = None

    def output() -> str:
        return log.read_text(errors="replace")

    def wait_for(pred, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not pred(output()):
            assert proc.poll() is None, output()[-3000:]
            assert time.monotonic() < deadline, output()[-3000:]
            time.sleep(0.2)

    try:
        wait_for(lambda o: "Starting audio streaming" in o, 60)
        player = subprocess.Popen(["paplay", "-d", "vmic_in", str(seed_samples / "fabrikam_billing_question" /
                                                                   "mono.wav")], env=virtual_mic)
        player.wait(120)

        def settled(o: str) -> bool:
            turns = o.count("Transcript:") // 2  # format_turns: each turn is printed unformatted, then formatted
            return turns >= 3 and o.count("LLM Response:") >= turns

        wait_for(settled, 120)
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    finally:
        if player and player.poll() is None:
            player.kill()
        if proc.poll() is None:
            proc.kill()
    out = output()
    assert "Session terminated" in out, out[-3000:]
    turns = re.findall(r"Transcript:\n(.+)\n", out)
    responses = re.findall(r"LLM Response:\n(.+)\n", out)
    assert len(turns) >= 6 and len(responses) == len(turns) // 2, (turns, responses)  # one summary per turn
    for r in responses:
        assert r not in turns and not r.startswith("[offline"), r
        assert r.startswith("The speaker") and r.endswith("."), r
    words = {w.lower() for t in turns for w in re.findall(r"[A-Za-z]{4,}", t)}
    assert all(words & {w.lower() for w in re.findall(r"[A-Za-z]{4,}", r)} for r in responses), responses


def test_swaps_fail_loudly_when_the_tutorial_changes():
    with pytest.raises(ValueError, match="no longer contains"):
        swap("print('hi')", {"./my-audio.mp3": "/tmp/x.mp3"})


def test_the_vendored_tutorials_are_the_shared_ones():
    """tests/seeds/tutorials is a copy of ../shared/seeds (where a checkout has it): the tests run what users read."""
    from .extract import SHARED_DIR, VENDORED_DIR

    vendored = {p.name: p.read_bytes() for p in VENDORED_DIR.glob("*.txt")}
    assert len(vendored) == 5  # 000 to 004
    if SHARED_DIR.is_dir():
        assert vendored == {p.name: p.read_bytes() for p in SHARED_DIR.glob("*.txt")}
