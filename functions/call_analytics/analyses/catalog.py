"""One place that knows, per analysis: its prompt, schema, model/max_tokens/fallbacks, and validator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from call_analytics.analyses import prompts, schemas
from call_analytics.analyses.action_items import (
    validate_action_items,
    validate_action_items_data,
)
from call_analytics.analyses.checks import validate_checks_data
from call_analytics.analyses.json_extract import JsonNotFound, extract_json
from call_analytics.analyses.phases import validate_phases, validate_phases_data
from call_analytics.analyses.sentiment import (
    validate_sentiment,
    validate_sentiment_data,
)
from call_analytics.analyses.validation import TranscriptFacts, Validation
from call_analytics.errors import InvalidProfile
from call_analytics.profiles.model import Profile

COMBINED = "combined"
#: section name -> key in the combined answer
COMBINED_KEYS = {"phases": "phases", "sentiment": "answers", "action_items": "action_items", "checks": "checks"}
#: the section holding the answers to the categories' yes/no questions (profiles/categories.py)
CHECKS = "checks"


@dataclass
class AnalysisJob:
    name: str  # phases | sentiment | action_items | combined
    request: dict[str, Any]
    validate: Callable[[str], dict[str, Validation]]  # section name -> validation
    sections: tuple[str, ...]  # the analyses this request answers


def analyses_to_run(profile: Profile) -> list[str]:
    """The Map items for this profile: each enabled analysis, or one `combined` request."""
    enabled = profile.enabled_analyses()
    if profile.llm.mode == "combined" and (len(enabled) > 1 or (enabled and profile.check_questions())):
        return [COMBINED]
    return enabled


def chat_request(profile: Profile, *, model: str | None, max_tokens: int, content: str, schema_name: str,
                 schema: dict[str, Any], fallback_models: list[str] | None = None) -> dict[str, Any]:
    """One gateway request. `model` / `fallback_models` None: the profile's `llm.model` / `llm.fallback_models`.
    The fallbacks sent are also the spill-over chain of the rate limiter (run_analysis.RateLimitedGateway)."""
    request: dict[str, Any] = {
        "model": model or profile.llm.model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "response_format": schemas.response_format(schema_name, schema),
    }
    if profile.llm.temperature is not None:
        request["temperature"] = profile.llm.temperature
    chain = profile.llm.fallback_models if fallback_models is None else fallback_models
    fallbacks = [m for m in chain if m != request["model"]]
    if fallbacks:
        request["fallbacks"] = [{"model": m} for m in fallbacks]
        request["fallback_config"] = {"depth": len(fallbacks)}
    return request


def build_job(name: str, profile: Profile, rendering: str, facts: TranscriptFacts) -> AnalysisJob:
    """The request for one Map item. `rendering`: the call's VTT or its compact rendering, as the profile's
    `llm.transcript_format` says."""
    fmt, style = profile.llm.transcript_format, profile.llm.prompt_style
    if name == COMBINED:
        return _combined_job(profile, rendering, facts)
    config = profile.analysis(name)
    checks: list[str] = []
    if name == "phases":
        phase_names = profile.phase_names()
        content = prompts.phases_prompt(config, fmt, rendering, style)
        schema = schemas.phases_schema(phase_names)

        def validate(raw: str) -> dict[str, Validation]:
            return {"phases": validate_phases(raw, phase_names, facts, gap_tolerance=config.gap_tolerance_seconds)}
    elif name == "sentiment":
        questions = [q.question for q in config.questions]
        checks = profile.check_questions() if profile.check_carrier() == "sentiment" else []
        content = prompts.sentiment_prompt(config, fmt, rendering, checks=checks, style=style)
        schema = schemas.sentiment_schema(questions, checks=checks)

        def validate(raw: str) -> dict[str, Validation]:
            if not checks:
                return {"sentiment": validate_sentiment(raw, questions, facts)}
            try:
                data = extract_json(raw)
            except JsonNotFound as exc:
                return {s: Validation(None, errors=[f"{s}: {exc}"]) for s in ("sentiment", CHECKS)}
            return {"sentiment": validate_sentiment_data(data, questions, facts),
                    CHECKS: validate_checks_data(data, checks, facts)}
    elif name == "action_items":
        content = prompts.action_items_prompt(config, fmt, rendering, style)
        schema = schemas.action_items_schema()

        def validate(raw: str) -> dict[str, Validation]:
            return {"action_items": validate_action_items(raw)}
    else:  # pragma: no cover - profile.analysis() rejects unknown names
        raise InvalidProfile(f"unknown analysis {name!r}")
    request = chat_request(profile, model=config.model, max_tokens=config.max_tokens, content=content,
                           schema_name=schemas.SCHEMA_NAMES[name], schema=schema,
                           fallback_models=config.fallback_models)
    sections = (name, CHECKS) if name == "sentiment" and checks else (name,)
    return AnalysisJob(name=name, request=request, validate=validate, sections=sections)


def _combined_job(profile: Profile, rendering: str, facts: TranscriptFacts) -> AnalysisJob:
    enabled = profile.enabled_analyses()
    phases = profile.analysis("phases") if "phases" in enabled else None
    sentiment = profile.analysis("sentiment") if "sentiment" in enabled else None
    action_items = profile.analysis("action_items") if "action_items" in enabled else None
    phase_names = profile.phase_names() if phases else None
    questions = [q.question for q in sentiment.questions] if sentiment else None
    checks = profile.check_questions()
    sections = [*enabled, CHECKS] if checks else list(enabled)
    content = prompts.combined_prompt(phases, sentiment, action_items, profile.llm.transcript_format, rendering,
                                      checks=checks, style=profile.llm.prompt_style)
    schema = schemas.combined_schema(phase_names, questions, action_items is not None, checks=checks)

    def validate(raw: str) -> dict[str, Validation]:
        try:
            data = extract_json(raw)
        except JsonNotFound as exc:
            return {section: Validation(None, errors=[f"{section}: {exc}"]) for section in sections}
        if not isinstance(data, dict):
            return {s: Validation(None, errors=[f"{s}: expected one JSON object with all keys"]) for s in sections}
        results: dict[str, Validation] = {}
        for section in sections:
            key = COMBINED_KEYS[section]
            if key not in data:
                results[section] = Validation(None, errors=[f'{section}: the key "{key}" is missing'])
            elif section == "phases":
                results[section] = validate_phases_data(
                    {"phases": data[key]}, phase_names, facts, gap_tolerance=phases.gap_tolerance_seconds
                )
            elif section == "sentiment":
                results[section] = validate_sentiment_data({"answers": data[key]}, questions, facts)
            elif section == CHECKS:
                results[section] = validate_checks_data({"checks": data[key]}, checks, facts)
            else:
                results[section] = validate_action_items_data({"action_items": data[key]})
        return results

    request = chat_request(profile, model=None, max_tokens=profile.llm.combined_max_tokens, content=content,
                           schema_name=schemas.SCHEMA_NAMES[COMBINED], schema=schema)
    return AnalysisJob(name=COMBINED, request=request, validate=validate, sections=tuple(sections))
