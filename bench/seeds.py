"""The seeds' approach (/work/shared/seeds, the AssemblyAI cookbooks), reproduced verbatim where it matters
for a measurement: the three LLM Gateway requests and the 3 s polling loop.

* 000/001 phases: the prompt + `VTT Transcript:` + the full VTT of GET /v2/transcript/{id}/vtt, max_tokens 2000.
* 002 sentiment: the five questions, `{{ transcript }}` + `transcript_id` (the gateway substitutes the
  transcript's plain `text`), max_tokens 2000.
* 003 action items: the guidelines + `Your response should have the following format: Bullet Points`,
  `{{ transcript }}` + `transcript_id`, max_tokens 1000.
"""

from __future__ import annotations

from typing import Any

MODEL = "claude-sonnet-4-5-20250929"
POLL_INTERVAL_SECONDS = 3  # time.sleep(3) between polls; the first poll right after submitting
PHASES = ["Introduction", "Complaint", "Resolution", "Goodbye"]


OTHER_RULE = ('Ensure that all parts of the conversation are covered by a phase, using "Other" for any parts '
           "that don't fit into the specified phases.")


def phases_request(vtt_content: str) -> dict[str, Any]:
    prompt = f'''
Analyze the following transcript of a phone call conversation and divide it into the following phases:
{', '.join(PHASES)}

You will be given the transcript in the format of VTT captions.

For each phase:
1. Identify the start and end timestamps (in seconds)
2. Provide a brief summary of what happened in that phase

Format your response as a JSON object with the following structure:
{{
    "phases": [
        {{
            "name": "Phase Name",
            "start_time": start_time_in_seconds,
            "end_time": end_time_in_seconds,
            "summary": "Brief summary of the phase"
        }},
        ...
    ]
}}

{OTHER_RULE}
'''
    return {"model": MODEL, "messages": [{"role": "user", "content": f"{prompt}\n\nVTT Transcript:\n{vtt_content}"}],
            "max_tokens": 2000}


AGENT_CONTEXT = "The agent is trying to get the customer to go through with the update to their car."
CUSTOMER_CONTEXT = "The customer is calling to check how much it would cost to update the map in his car."
ANSWER_FORMAT = "<answer in one sentence> <reason in one sentence>"
QUESTIONS = [
    ("What was the overall sentiment of the call?", CUSTOMER_CONTEXT),
    ("What was the sentiment of the agent in this call?", AGENT_CONTEXT),
    ("What was the sentiment of the customer in this call?", CUSTOMER_CONTEXT),
    ("What quote best demonstrates the customer's level of interest?", CUSTOMER_CONTEXT),
    ("Provide a quote from the agent that demonstrates their level of enthusiasm.", AGENT_CONTEXT),
]
GUIDELINES = [
    "You are an expert at understanding transcripts of conversations, calls and meetings.",
    "You are an expert at coming up with ideal action items based on the contents of the transcripts.",
    "Action items are things that the transcript implies should get done.",
    "Your action item ideas do not make stuff up that isn't relevant to the transcript.",
    "You do not needlessly make up action items - you stick to important tasks.",
    "You are useful, true and concise, and write in perfect English.",
    "Your action items can be tied back to direct quotes in the transcript.",
    "You do not cite the quotes the action items relate to.",
    "The action items are written succinctly.",
    "Please give useful action items based on the transcript.",
]
ACTION_ITEMS_FORMAT = "Bullet Points"


def sentiment_request(transcript_id: str) -> dict[str, Any]:
    question_strs = []
    for question, context in QUESTIONS:
        q_str = f"Question: {question}"
        q_str += f"\nContext: {context}"
        q_str += f"\nAnswer Format: {ANSWER_FORMAT}"
        question_strs.append(q_str)
    questions_prompt = "\n\n".join(question_strs)
    prompt = f"""
You are an expert at analyzing call transcripts.
Given the series of questions below, answer them accurately and concisely.
When context or answer format is provided, use it to guide your answers.

Transcript:
{{{{ transcript }}}}

Questions:
{questions_prompt}
"""
    return {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "transcript_id": transcript_id,
            "max_tokens": 2000}


def action_items_request(transcript_id: str) -> dict[str, Any]:
    guidelines = "\n".join(f"- {g}" for g in GUIDELINES)
    prompt = f"""
Here are guidelines to follow:
{guidelines}
"""
    answer_format = ACTION_ITEMS_FORMAT
    if answer_format:
        prompt += f"\nYour response should have the following format: {answer_format}"
    return {"model": MODEL, "messages": [{"role": "user", "content": f"{prompt}\n\n{{{{ transcript }}}}"}],
            "transcript_id": transcript_id, "max_tokens": 1000}


def requests_for(transcript_id: str, vtt_content: str) -> dict[str, dict[str, Any]]:
    """The three requests the seeds make for one call (three gateway calls)."""
    return {"phases": phases_request(vtt_content), "sentiment": sentiment_request(transcript_id),
            "action_items": action_items_request(transcript_id)}


def poll_times(ready_at: float) -> list[float]:
    """When the seeds' loop polls (seconds after submitting) until it sees `completed` at `ready_at`."""
    times, t = [], 0.0
    while True:
        times.append(t)
        if t >= ready_at:
            return times
        t += POLL_INTERVAL_SECONDS


def run_flow(base_url: str, api_key: str, audio_path, sleep_scale: float = 1.0, timeout: float = 1800) -> dict:
    """One call the seeds' way against a (local) AssemblyAI: upload, transcribe, poll every 3 s (x sleep_scale),
    GET the VTT, then the three gateway requests one after the other. No retries (the seeds have none): a
    non-200 answer ends the call as failed, as `response.json()["choices"]` would. Returns the timings."""
    import time

    import requests

    headers = {"authorization": api_key}
    t0 = time.monotonic()
    out: dict[str, Any] = {"failed": None, "llm_seconds": [], "transcript_id": None}
    try:
        with open(audio_path, "rb") as f:
            upload = requests.post(base_url + "/v2/upload", headers=headers, data=f, timeout=60)
        upload_url = upload.json()["upload_url"]
        data = {"audio_url": upload_url, "speech_models": ["universal-3-pro"]}
        transcript_id = requests.post(base_url + "/v2/transcript", json=data, headers=headers, timeout=60).json()["id"]
        out["transcript_id"] = transcript_id
        polling_endpoint = base_url + "/v2/transcript/" + transcript_id
        polls = 0
        while True:
            polls += 1
            result = requests.get(polling_endpoint, headers=headers, timeout=60).json()
            if result["status"] == "completed":
                break
            if result["status"] == "error":
                raise RuntimeError(f"Transcription failed: {result['error']}")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("transcript not completed")
            time.sleep(POLL_INTERVAL_SECONDS * sleep_scale)
        out["polls"] = polls
        vtt_content = requests.get(f"{polling_endpoint}/vtt", headers=headers, timeout=60).text
        for request in requests_for(transcript_id, vtt_content).values():
            response = requests.post(base_url + "/v1/chat/completions", headers=headers, json=request, timeout=300)
            if response.status_code != 200:
                raise RuntimeError(f"gateway {response.status_code}")
            body = response.json()
            out["llm_seconds"].append(body["response_time"] / 1e9)
    except Exception as exc:  # the seeds would crash here; the benchmark counts it
        out["failed"] = f"{type(exc).__name__}: {exc}"
    out["seconds"] = time.monotonic() - t0
    return out
