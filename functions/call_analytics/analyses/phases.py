"""Call phases: parse tolerant, then normalise into an ordered, gap-free, non-overlapping timeline."""

from __future__ import annotations

from typing import Any

from call_analytics.analyses.json_extract import JsonNotFound, extract_json
from call_analytics.analyses.timecodes import to_seconds
from call_analytics.analyses.validation import TranscriptFacts, Validation, as_text

OTHER = "Other"
GAP_SUMMARY = "Not assigned to a phase by the model."
_MIN_LENGTH = 0.01


def validate_phases(
    raw: str, phase_names: list[str], facts: TranscriptFacts, *, gap_tolerance: float = 2.0
) -> Validation:
    try:
        data = extract_json(raw)
    except JsonNotFound as exc:
        return Validation(None, errors=[f"phases: {exc}"])
    return validate_phases_data(data, phase_names, facts, gap_tolerance=gap_tolerance)


def validate_phases_data(
    data: Any, phase_names: list[str], facts: TranscriptFacts, *, gap_tolerance: float = 2.0
) -> Validation:
    items = data.get("phases") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return Validation(None, errors=['phases: expected an object with a "phases" list'])
    issues: list[str] = []
    allowed = {n.lower(): n for n in phase_names}
    allowed.setdefault(OTHER.lower(), OTHER)
    duration = facts.duration if facts.duration and facts.duration > 0 else None

    phases = [p for i, item in enumerate(items) if (p := _read_phase(i, item, allowed, duration, issues))]
    if not phases:
        return Validation(
            None, errors=["phases: no usable phase (each needs name, start_time < end_time)"], issues=issues
        )

    if [p["start_time"] for p in phases] != sorted(p["start_time"] for p in phases):
        issues.append("phases were not in chronological order; sorted by start_time")
    phases.sort(key=lambda p: (p["start_time"], p["end_time"]))
    phases = _resolve_overlaps(phases, issues)
    phases = _fill_gaps(phases, duration, gap_tolerance, issues)
    phases = _merge_adjacent_other(phases)
    for phase in phases:
        phase["start_time"] = round(phase["start_time"], 2)
        phase["end_time"] = round(phase["end_time"], 2)
    return Validation({"phases": phases}, issues=issues)


def _read_phase(index: int, item: Any, allowed: dict[str, str], duration: float | None, issues: list[str]):
    where = f"phase {index + 1}"
    if not isinstance(item, dict):
        issues.append(f"{where}: not an object; dropped")
        return None
    raw_name = as_text(item.get("name") or item.get("phase"))
    start = to_seconds(item.get("start_time", item.get("start")))
    end = to_seconds(item.get("end_time", item.get("end")))
    if start is None or end is None:
        issues.append(f"{where} ({raw_name or 'unnamed'}): missing or unreadable start_time/end_time; dropped")
        return None
    phase: dict[str, Any] = {"name": allowed.get(raw_name.lower()), "start_time": start, "end_time": end,
                             "summary": as_text(item.get("summary"))}
    if phase["name"] is None:
        phase["name"] = OTHER
        phase["original_name"] = raw_name
        issues.append(f"{where}: unknown phase name {raw_name!r} mapped to {OTHER!r}")
    if start > end:
        phase["start_time"], phase["end_time"] = end, start
        issues.append(f"{where} ({phase['name']}): start_time after end_time; swapped")
    if phase["start_time"] < 0:
        phase["start_time"] = 0.0
        issues.append(f"{where} ({phase['name']}): negative start_time clamped to 0")
    if duration is not None:
        if phase["start_time"] >= duration:
            issues.append(f"{where} ({phase['name']}): starts after the end of the audio ({duration:g}s); dropped")
            return None
        if phase["end_time"] > duration:
            phase["end_time"] = duration
            issues.append(f"{where} ({phase['name']}): end_time clamped to the audio duration {duration:g}s")
    if phase["end_time"] - phase["start_time"] < _MIN_LENGTH:
        issues.append(f"{where} ({phase['name']}): zero length; dropped")
        return None
    return phase


def _resolve_overlaps(phases: list[dict[str, Any]], issues: list[str]) -> list[dict[str, Any]]:
    """A later phase starts where the previous one ends; one swallowed entirely is dropped."""
    resolved: list[dict[str, Any]] = []
    for phase in phases:
        if resolved and phase["start_time"] < resolved[-1]["end_time"]:
            previous = resolved[-1]
            if phase["end_time"] - previous["end_time"] < _MIN_LENGTH:
                issues.append(
                    f"{phase['name']} ({phase['start_time']:g}-{phase['end_time']:g}s) lies inside "
                    f"{previous['name']}; dropped"
                )
                continue
            issues.append(
                f"{phase['name']} overlapped {previous['name']}; its start moved from "
                f"{phase['start_time']:g}s to {previous['end_time']:g}s"
            )
            phase["start_time"] = previous["end_time"]
        resolved.append(phase)
    return resolved


def _gap(start: float, end: float) -> dict[str, Any]:
    return {"name": OTHER, "start_time": start, "end_time": end, "summary": GAP_SUMMARY, "inserted": True}


def _fill_gaps(phases, duration: float | None, tolerance: float, issues: list[str]) -> list[dict[str, Any]]:
    """Gaps up to `tolerance` are absorbed by the neighbouring phase; longer ones become "Other"."""
    filled: list[dict[str, Any]] = []
    cursor = 0.0
    for phase in phases:
        gap = phase["start_time"] - cursor
        if gap > tolerance:
            filled.append(_gap(cursor, phase["start_time"]))
            issues.append(f"gap {cursor:g}-{phase['start_time']:g}s not covered; filled with {OTHER!r}")
        elif gap > 0:
            if filled:
                filled[-1]["end_time"] = phase["start_time"]
            else:
                phase["start_time"] = 0.0
        filled.append(phase)
        cursor = phase["end_time"]
    if duration is not None:
        gap = duration - cursor
        if gap > tolerance:
            filled.append(_gap(cursor, duration))
            issues.append(f"gap {cursor:g}-{duration:g}s at the end not covered; filled with {OTHER!r}")
        elif gap > 0:
            filled[-1]["end_time"] = duration
    return filled


def _merge_adjacent_other(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: list[dict[str, Any]] = []
    for phase in phases:
        previous = merged[-1] if merged else None
        if (
            previous
            and previous["name"] == OTHER == phase["name"]
            and (previous.get("inserted") or phase.get("inserted"))
        ):
            previous["end_time"] = phase["end_time"]
            summaries = [s for s in (previous["summary"], phase["summary"]) if s and s != GAP_SUMMARY]
            previous["summary"] = " ".join(summaries) or GAP_SUMMARY
            previous["inserted"] = bool(previous.get("inserted") and phase.get("inserted"))
            continue
        merged.append(phase)
    for phase in merged:
        if not phase.get("inserted"):
            phase.pop("inserted", None)
    return merged
