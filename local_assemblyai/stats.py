"""Request and job counters exposed at GET /_local/stats (integration tests assert on them)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.started_at = time.time()
            self.requests: Counter[str] = Counter()        # "POST /v2/transcript" -> n
            self.responses: Counter[str] = Counter()       # "429" -> n
            self.llm_requests: Counter[str] = Counter()    # model -> n (each attempt, incl. fallbacks)
            self.events: Counter[str] = Counter()          # free-form named events
            self.faults: Counter[str] = Counter()          # "transcript:429" -> n

    def incr(self, counter: str, key: str, n: int = 1) -> None:
        with self._lock:
            getattr(self, counter)[key] += n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "uptime_seconds": round(time.time() - self.started_at, 3),
                "requests": dict(self.requests),
                "responses_by_status": dict(self.responses),
                "llm_requests_by_model": dict(self.llm_requests),
                "events": dict(self.events),
                "faults_injected": dict(self.faults),
            }
