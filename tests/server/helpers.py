"""Small clients and test doubles used by tests/server (HTTP only, 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

TIMEOUT = 30


class Admin:
    """The server's admin API (/_local/*)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": api_key}

    def stats(self) -> dict:
        return requests.get(f"{self.base_url}/_local/stats", headers=self.headers, timeout=TIMEOUT).json()

    def set_faults(self, rules: list[dict]) -> dict:
        r = requests.post(f"{self.base_url}/_local/faults", json={"rules": rules}, headers=self.headers,
                          timeout=TIMEOUT)
        r.raise_for_status()
        return r.json()

    def clear_faults(self) -> None:
        requests.delete(f"{self.base_url}/_local/faults", headers=self.headers, timeout=TIMEOUT).raise_for_status()

    def config(self) -> dict:
        return requests.get(f"{self.base_url}/_local/config", headers=self.headers, timeout=TIMEOUT).json()

    def update_config(self, update: dict) -> requests.Response:
        return requests.post(f"{self.base_url}/_local/config", json=update, headers=self.headers, timeout=TIMEOUT)


class Api:
    """Raw REST calls (for status codes and bodies the SDK would hide)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": api_key}

    def upload(self, path: Path) -> str:
        r = requests.post(f"{self.base_url}/v2/upload", data=path.read_bytes(), headers=self.headers, timeout=TIMEOUT)
        r.raise_for_status()
        return r.json()["upload_url"]

    def submit(self, body: dict) -> requests.Response:
        return requests.post(f"{self.base_url}/v2/transcript", json=body, headers=self.headers, timeout=TIMEOUT)

    def get(self, transcript_id: str) -> dict:
        return requests.get(f"{self.base_url}/v2/transcript/{transcript_id}", headers=self.headers,
                            timeout=TIMEOUT).json()

    def wait(self, transcript_id: str, timeout: float = 120) -> tuple[dict, list[str]]:
        """Poll until terminal; returns the transcript and the statuses seen."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.get(transcript_id)
            if not seen or seen[-1] != t["status"]:
                seen.append(t["status"])
            if t["status"] in ("completed", "error"):
                return t, seen
            time.sleep(0.05)
        raise TimeoutError(f"transcript {transcript_id} not finished after {timeout}s (seen {seen})")

    def transcribe(self, path: Path, **options: Any) -> dict:
        body = {"audio_url": self.upload(path), "speech_models": ["universal-3-pro"], **options}
        r = self.submit(body)
        r.raise_for_status()
        return self.wait(r.json()["id"])[0]

    def chat(self, body: dict, headers: dict | None = None) -> requests.Response:
        return requests.post(f"{self.base_url}/v1/chat/completions", json=body, headers=headers or self.headers,
                             timeout=TIMEOUT)


class RecordingHttpDouble:
    """A tiny HTTP server on 127.0.0.1 that records requests and answers via `respond(handler) -> (status,
    headers, body bytes)`. Used as a webhook receiver, a file host and an OpenAI-compatible upstream."""

    def __init__(self, respond: Callable[[RecordingHttpDouble, BaseHTTPRequestHandler, bytes],
                                         tuple[int, dict, bytes]]) -> None:
        self.requests: list[dict] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                double.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                        "body": body})
                status, headers, payload = respond(double, self, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def json_bodies(self) -> list[Any]:
        return [json.loads(r["body"]) for r in self.requests if r["body"]]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("condition not met in time")
