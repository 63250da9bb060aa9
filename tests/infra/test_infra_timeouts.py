"""Issue 10 item 5: the HTTP timeouts the AssemblyAI client is configured with are the ones that apply inside the
deployed Lambda (its timeout leaves room for them), and the outage budget is a CDK context knob (item 4)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from call_analytics import wiring
from call_analytics.adapters.assemblyai import AssemblyAIClient
from infra_template import all_states, synthesize

from infra.config import StackConfig
from infra.functions import HANDLER_WORK_SECONDS
from infra.names import HttpTimeouts

#: the AssemblyAI requests each function makes in one invocation (read timeouts)
REQUESTS = {
    "check_transcript": (HttpTimeouts.READ,),
    "submit_transcription": (HttpTimeouts.READ, HttpTimeouts.READ),  # POST + the lookup after an unknown outcome
    "fetch_transcript": (HttpTimeouts.READ, HttpTimeouts.READ),  # JSON + VTT
    "run_analysis": (HttpTimeouts.LLM, HttpTimeouts.LLM),  # a request and its repair
}
#: the slow but healthy answer of the issue
SLOW_SECONDS = 20.0


def test_the_client_defaults_and_deadline_margin_are_the_names_infra_sizes_from():
    client = AssemblyAIClient("k")
    assert (client.connect_timeout, client.read_timeout, client.upload_timeout, client.llm_timeout) == (
        HttpTimeouts.CONNECT, HttpTimeouts.READ, HttpTimeouts.UPLOAD, HttpTimeouts.LLM)
    assert wiring.LAMBDA_DEADLINE_MARGIN_SECONDS == HttpTimeouts.DEADLINE_MARGIN


@pytest.mark.parametrize("handler", sorted(REQUESTS))
def test_each_lambda_timeout_leaves_its_requests_their_full_timeouts(synth, handler):
    _, props = synth.functions()[handler]
    needed = HANDLER_WORK_SECONDS + HttpTimeouts.DEADLINE_MARGIN + sum(HttpTimeouts.CONNECT + r
                                                                       for r in REQUESTS[handler])
    assert props["Timeout"] >= needed, (handler, props["Timeout"], needed)


class SlowApiServerDouble:
    """127.0.0.1 server whose answer takes SLOW_SECONDS on the modelled clock (`clock[0]`, advanced by the answer;
    the real delay is a fraction of a second): the test computes, it does not wait 20 s."""

    def __init__(self, clock: list[float]):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                threading.Event().wait(0.2)  # a genuinely delayed response ...
                clock[0] += SLOW_SECONDS  # ... standing for 20 s
                body = json.dumps({"id": "t-1", "status": "processing"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ModelledLambdaContextDouble:
    def __init__(self, timeout_seconds: float, clock: list[float]):
        self.timeout_seconds, self.clock = timeout_seconds, clock

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_seconds - self.clock[0]) * 1000)


def test_a_slow_20s_poll_succeeds_inside_the_deployed_check_transcript(synth):
    # GIVEN CheckTranscript's deployed timeout, 1 s of it spent before the poll, and an API that needs 20 s
    _, props = synth.functions()["check_transcript"]
    clock = [1.0]
    context = ModelledLambdaContextDouble(props["Timeout"], clock)
    server = SlowApiServerDouble(clock)
    try:
        client = AssemblyAIClient("k", api_base_url=server.url).with_deadline(wiring.lambda_deadline(context))
        timeouts = []
        send = client.session.request
        client.session.request = lambda *a, **kw: timeouts.append(kw["timeout"]) or send(*a, **kw)
        # WHEN the handler polls
        transcript = client.get_transcript("t-1")
    finally:
        server.stop()
    # THEN the attempt had the configured socket timeouts (with a 30 s Lambda it got 20 s: less than the answer
    # took), the answer came, and the invocation still has time to record it before its own timeout
    [(connect, read)] = timeouts
    assert (connect, read) == (HttpTimeouts.CONNECT, HttpTimeouts.READ)
    assert read > SLOW_SECONDS
    assert transcript["status"] == "processing"
    assert context.get_remaining_time_in_millis() / 1000 > HttpTimeouts.DEADLINE_MARGIN


@pytest.fixture(scope="module")
def long_outages(tmp_path_factory):
    return synthesize({"outage_budget_seconds": 7200, "nag": False}, tmp_path_factory.mktemp("cdk-outages"))


def test_the_outage_budget_is_a_context_knob_that_the_execution_timeout_covers(synth, long_outages):
    assert StackConfig().outage_budget_seconds >= 900  # at least 15 minutes of 429/5xx by default
    for s, budget in ((synth, "900"), (long_outages, "7200")):
        for handler in REQUESTS:
            assert s.functions()[handler][1]["Environment"]["Variables"]["OUTAGE_BUDGET_SECONDS"] == budget
    cfg = long_outages.config
    # the backstop stays behind every budget: four tasks may each wait out a whole outage
    assert long_outages.state_machine()[2]["TimeoutSeconds"] >= (
        cfg.slot_wait_budget_seconds + cfg.transcription_timeout_seconds + cfg.analysis_wait_budget_seconds
        + 4 * 7200)
    assert "WaitToFetch" in all_states(long_outages.state_machine()[2])
