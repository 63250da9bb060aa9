"""Call the LLM, validate, and ask once more with the validation errors when the answer is unusable.

After the last attempt an invalid answer is kept with its errors (valid=false), never dropped.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from call_analytics.analyses.catalog import AnalysisJob
from call_analytics.analyses.prompts import repair_prompt
from call_analytics.analyses.validation import Validation


@dataclass
class Attempt:
    raw: str
    model: str | None
    usage: dict[str, int]
    latency_ms: int
    finish_reason: str | None
    errors: list[str]


@dataclass
class SectionOutcome:
    valid: bool
    result: dict[str, Any] | None
    errors: list[str]
    issues: list[str]
    attempt: int  # 1-based attempt whose answer is kept


@dataclass
class JobOutcome:
    name: str
    sections: dict[str, SectionOutcome]
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(s.valid for s in self.sections.values())

    @property
    def usage(self) -> dict[str, int]:
        total = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        for attempt in self.attempts:
            for key in total:
                total[key] += attempt.usage.get(key, 0)
        return total

    @property
    def latency_ms(self) -> int:
        return sum(a.latency_ms for a in self.attempts)

    @property
    def model(self) -> str | None:
        return self.attempts[-1].model if self.attempts else None


def message_text(response: dict[str, Any]) -> tuple[str, str | None]:
    choice = (response.get("choices") or [{}])[0] or {}
    content = (choice.get("message") or {}).get("content")
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return (content or ""), choice.get("finish_reason")


def usage_of(response: dict[str, Any]) -> dict[str, int]:
    usage = response.get("usage") or {}
    prompt = int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0)
    completion = int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0)
    total = int(usage.get("total_tokens", prompt + completion) or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def model_of(response: dict[str, Any], requested: str) -> str:
    return response.get("model") or (response.get("request") or {}).get("model") or requested


def run_job(
    job: AnalysisJob,
    call_llm: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    repair_attempts: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> JobOutcome:
    outcome = JobOutcome(name=job.name, sections={})
    request = copy.deepcopy(job.request)
    best: dict[str, tuple[int, Validation]] = {}
    for attempt_no in range(1, repair_attempts + 2):
        started = clock()
        response = call_llm(request)
        latency_ms = int((clock() - started) * 1000)
        raw, finish_reason = message_text(response)
        validations = job.validate(raw)
        errors = [e for v in validations.values() for e in v.errors]
        if errors and finish_reason == "length":
            errors.append("the answer was cut off at max_tokens; answer more briefly")
        outcome.attempts.append(
            Attempt(raw=raw, model=model_of(response, request["model"]), usage=usage_of(response),
                    latency_ms=latency_ms, finish_reason=finish_reason, errors=errors)
        )
        for section, validation in validations.items():
            if section not in best or (validation.valid and not best[section][1].valid):
                best[section] = (attempt_no, validation)
        if all(v.valid for _, v in best.values()):
            break
        if attempt_no <= repair_attempts:
            request = copy.deepcopy(request)
            request["messages"] = [
                *request["messages"],
                {"role": "assistant", "content": raw},
                {"role": "user", "content": repair_prompt(errors)},
            ]
    for section, (attempt_no, validation) in best.items():
        outcome.sections[section] = SectionOutcome(
            valid=validation.valid, result=validation.result, errors=validation.errors,
            issues=validation.issues, attempt=attempt_no,
        )
    return outcome
