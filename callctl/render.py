"""Terminal rendering (rich) of calls, one call's results, and notifications."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from callctl.data import CallView
from callctl.subscription import Notification

STATUS_STYLE = {"COMPLETED": "green", "PARTIAL": "yellow bold", "FAILED": "red", "ANALYZING": "cyan",
                "TRANSCRIBING": "yellow", "RECEIVED": "blue", "LIVE": "magenta bold"}
BAR_WIDTH = 24
SUMMARY_CHARS = 240


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, "white"))


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60):d}:{seconds % 60:04.1f}"


def _parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def calls_table(calls: list[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(calls)} call(s), newest first", expand=False)
    for column in ("call", "status", "profile", "recording", "updated"):
        table.add_column(column)
    for call in calls:
        table.add_row(call.get("call_id", "?"), status_text(call.get("status", "?")), call.get("profile") or "",
                      call.get("recording_key") or "", (call.get("updated_at") or "")[:19].replace("T", " "))
    return table


def history_table(meta: dict[str, Any]) -> Table:
    table = Table(title="Status history", show_edge=False)
    table.add_column("at (UTC)")
    table.add_column("+s", justify="right")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    history = meta.get("history") or []
    first = _parse_time(history[0].get("at")) if history else None
    for entry in history:
        at = _parse_time(entry.get("at"))
        offset = f"{(at - first).total_seconds():.1f}" if at and first else ""
        table.add_row((entry.get("at") or "")[11:23], offset, status_text(entry.get("status", "?")),
                      entry.get("detail") or "")
    return table


def phases_table(result: dict | None, duration: float | None) -> Table | Text:
    phases = (result or {}).get("phases") or []
    if not phases:
        return Text("Phases: none stored", style="dim")
    end = duration or max((p.get("end_time") or 0) for p in phases) or 1.0
    table = Table(title="Phases timeline", show_edge=False)
    table.add_column("from-to", no_wrap=True)
    table.add_column("phase", style="bold")
    table.add_column("timeline", no_wrap=True)
    table.add_column("summary", overflow="fold")
    for phase in phases:
        start, stop = float(phase.get("start_time") or 0), float(phase.get("end_time") or 0)
        left = int(round(BAR_WIDTH * start / end))
        width = max(1, int(round(BAR_WIDTH * (stop - start) / end)))
        bar = "·" * left + "█" * width + "·" * max(0, BAR_WIDTH - left - width)
        summary = " ".join((phase.get("summary") or "").split())
        if len(summary) > SUMMARY_CHARS:
            summary = summary[:SUMMARY_CHARS - 1] + "…"
        table.add_row(f"{clock(start)}–{clock(stop)}", phase.get("name", "?"), bar[:BAR_WIDTH], summary)
    return table


def sentiment_table(result: dict | None) -> Table | Text:
    answers = (result or {}).get("answers") or []
    if not answers:
        return Text("Sentiment: no answers stored", style="dim")
    table = Table(title="Sentiment questions", show_edge=False)
    table.add_column("question", overflow="fold", style="bold")
    table.add_column("answer", overflow="fold")
    table.add_column("quote", overflow="fold")
    for answer in answers:
        quote = answer.get("quote") or ""
        found = answer.get("quote_found")
        mark = Text(" ✓ found", style="green") if found else Text(" ✗ NOT FOUND in transcript", style="red bold")
        quote_text = Text(f"“{quote}”", style="italic") + mark if quote else Text("(no quote)", style="red")
        reason = answer.get("reason")
        answer_text = Text(answer.get("answer") or "")
        if reason:
            answer_text.append(f"\n{reason}", style="dim")
        table.add_row(answer.get("question") or "?", answer_text, quote_text)
    return table


def action_items_table(result: dict | None) -> Table | Text:
    items = (result or {}).get("action_items") or []
    if not items:
        return Text("Action items: none", style="dim")
    table = Table(title="Action items", show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("item", overflow="fold")
    table.add_column("owner")
    table.add_column("due")
    for index, item in enumerate(items, start=1):
        table.add_row(str(index), item.get("item") or "", item.get("owner") or "–", item.get("due_date") or "–")
    return table


def tokens_table(view: CallView) -> Table | Text:
    if not view.analyses:
        return Text("Analyses: none stored", style="dim")
    models = sorted({str(item.get("model")) for item in view.analyses.values() if item.get("model")})
    table = Table(title=f"Analyses and tokens ({', '.join(models) or 'model unknown'})", show_edge=False)
    for column in ("analysis", "valid", "tokens in/out", "latency", "tries", "issues"):
        table.add_column(column, overflow="fold")
    for name, item in sorted(view.analyses.items()):
        tokens = item.get("tokens") or {}
        notes = list(item.get("errors") or []) + list(item.get("issues") or [])
        table.add_row(name, Text("yes", style="green") if item.get("valid") else Text("NO", style="red"),
                      f"{tokens.get('prompt_tokens', '?')}/{tokens.get('completion_tokens', '?')}",
                      f"{item.get('latency_ms', '?')} ms", str(item.get("attempts", "")), "; ".join(notes)[:300])
    return table


def roles_text(meta: dict[str, Any]) -> str:
    """`A = agent, B = customer (heuristic)`."""
    roles = meta.get("roles") or {}
    speakers = roles.get("speakers") or {}
    if not speakers:
        return "–"
    return ", ".join(f"{s} = {r}" for s, r in speakers.items()) + f" ({roles.get('method', '?')})"


def metrics_table(result: dict | None) -> Table | Text:
    """Talk time, pace, turns and interruptions per role; silences and agent response latency below."""
    if not result or not result.get("roles"):
        return Text("Conversation metrics: no speech", style="dim")
    table = Table(title="Conversation metrics", show_edge=False)
    for column in ("role", "talk", "share", "words/min", "turns", "longest monologue", "interruptions"):
        table.add_column(column, justify="left" if column == "role" else "right")
    for role, entry in result["roles"].items():
        monologue = entry.get("longest_monologue") or {}
        share = entry.get("talk_share")
        table.add_row(role, f"{entry.get('talk_seconds', 0):.1f}s", f"{share:.0%}" if share is not None else "–",
                      f"{entry['words_per_minute']:.0f}" if entry.get("words_per_minute") else "–",
                      str(entry.get("turns", 0)),
                      f"{monologue.get('seconds', 0):.1f}s at {clock(monologue.get('start', 0))}",
                      f"{entry.get('interruptions', 0)} ({entry.get('interruption_seconds', 0):.1f}s)")
    non_talk = result.get("non_talk") or {}
    silence = non_talk.get("longest_silence")
    latency = result.get("response_latency") or {}
    notes = [f"non-talk {non_talk.get('seconds', 0):.1f}s"
             + (f" ({non_talk['share']:.0%})" if non_talk.get("share") is not None else ""),
             f"longest silence {silence['seconds']:.1f}s at {clock(silence['start'])}" if silence else "no silence",
             f"agent response median {latency['median_seconds']:.1f}s, max {latency['max_seconds']:.1f}s"
             if latency else "", f"interruptions by {result.get('interruption_method') or '–'}"]
    table.caption = "; ".join(n for n in notes if n)
    sentiment = result.get("sentiment") or {}
    if sentiment:
        quarters = "; ".join(f"{role}: " + " ".join(q.get("label") or "·" for q in rows)
                             for role, rows in sentiment.items())
        table.caption += f"\nsentiment by quarter — {quarters}"
    return table


def categories_table(result: dict | None) -> Table | Text:
    categories = (result or {}).get("categories") or []
    if not categories:
        return Text("Categories: none defined", style="dim")
    table = Table(title="Categories", show_edge=False)
    table.add_column("category")
    table.add_column("matched")
    table.add_column("evidence", overflow="fold")
    for entry in categories:
        if entry.get("matched"):
            mark = Text("yes", style="bold red")
        elif entry.get("undetermined"):
            mark = Text("unknown", style="yellow")
        else:
            mark = Text("no", style="dim")
        evidence = "; ".join(_evidence_text(e) for e in entry.get("evidence") or [])
        if entry.get("undetermined"):
            evidence = "; ".join(entry["undetermined"])
        table.add_row(entry.get("name") or "?", mark, evidence)
    return table


def _evidence_text(evidence: dict[str, Any]) -> str:
    kind = evidence.get("kind")
    if kind == "phrase":
        return f"{evidence.get('role')} at {clock(evidence.get('start', 0))}: “{evidence.get('text')}”"
    if kind == "metric":
        op = next((k for k in ("gt", "gte", "lt", "lte") if k in evidence), "")
        role = f" ({evidence['role']})" if evidence.get("role") else ""
        return f"{evidence.get('metric')}{role} = {evidence.get('value')} ({op} {evidence.get(op)})"
    if kind == "sentiment":
        where = f"quarter {evidence['quarter']}" if evidence.get("quarter") else "the call"
        return f"{evidence.get('role')} {evidence.get('label')} in {where} (score {evidence.get('score')})"
    if kind == "question":
        return f"{evidence.get('question')} {evidence.get('answer')}: “{evidence.get('quote')}”"
    return str(evidence.get("detail") or kind)


def live_table(insights: list[dict[str, Any]]) -> Table:
    """The live call's LLM responses (edge client), in session and turn order."""
    table = Table(title=f"Live insights ({len(insights)})", show_edge=False)
    table.add_column("turn", justify="right")
    table.add_column("said", overflow="fold", ratio=1)
    table.add_column("live insight", overflow="fold", ratio=1)
    for item in insights:
        turn = str(item.get("turn_order"))
        if int(item.get("session_number") or 1) > 1:
            turn = f"{item['session_number']}.{turn}"
        table.add_row(turn, item.get("transcript") or "", item.get("content") or "")
    return table


def call_renderable(view: CallView) -> Group:
    meta = view.meta
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    duration = meta.get("audio_duration")
    for label, value in (("status", status_text(view.status)), ("recording", meta.get("recording_key") or ""),
                         ("version", meta.get("recording_version_id") or "–"), ("profile", meta.get("profile") or ""),
                         ("transcript", meta.get("transcript_id") or "–"),
                         ("audio", clock(duration) if duration else "–"), ("speakers", roles_text(meta)),
                         ("categories", ", ".join(meta.get("categories") or []) or "–"),
                         ("created", meta.get("created_at") or ""), ("updated", meta.get("updated_at") or "")):
        header.add_row(label, value)
    if meta.get("failure_reason"):
        header.add_row("failure", Text(f"{meta.get('failure_error', '')}: {meta['failure_reason']}", style="red"))
    if meta.get("analyses_valid") and meta.get("status") in ("COMPLETED", "PARTIAL"):
        header.add_row("analyses", validity_text(meta))
    if meta.get("agent_id"):
        header.add_row("agent", str(meta["agent_id"]))
    parts: list[Any] = [Panel(header, title=f"call {view.call_id}", expand=False), history_table(meta)]
    if view.live:
        parts.append(live_table(view.live))
    if view.analyses:
        parts += [phases_table(view.result("phases"), duration), sentiment_table(view.result("sentiment")),
                  action_items_table(view.result("action_items")), metrics_table(view.result("metrics")),
                  categories_table(view.result("categories")), tokens_table(view)]
    elif meta.get("skip_reason"):
        parts.append(Text(f"analyses skipped: {meta['skip_reason']}", style="yellow"))
    return Group(*parts)


def validity_text(values: dict[str, Any]) -> Text:
    """`2 of 3 valid (invalid: action_items)`; PARTIAL calls (docs/data-model.md "Outcomes") in yellow."""
    summary = values.get("analyses_valid")
    if summary == "skipped":
        return Text("none run (no speech)", style="dim")
    text = f"{values.get('analyses_valid_count', '?')} of {values.get('analyses_total', '?')} valid"
    invalid = values.get("invalid_analyses") or (values.get("digest") or {}).get("invalid_analyses") or []
    if invalid:
        text += f" (invalid: {', '.join(invalid)})"
    return Text(text, style="green" if summary == "all" else ("red" if summary == "none" else "yellow"))


def notification_renderable(note: Notification) -> Text:
    text = Text()
    text.append(f"{note.status or '?':<10}", style=STATUS_STYLE.get(note.status or "", "white"))
    text.append(f" {note.call_id or '?'} ")
    message = note.message if isinstance(note.message, dict) else {"message": note.message}
    recording = message.get("recording") or {}
    if recording.get("key"):
        text.append(f"{recording['key']} ", style="dim")
    if message.get("error"):
        text.append(json.dumps(message["error"], ensure_ascii=False), style="red")
    elif message.get("digest"):
        digest = message["digest"]
        text.append(f"phases: {' → '.join(digest.get('phases') or []) or '–'}; "
                    f"{len(digest.get('sentiment') or [])} sentiment answers; "
                    f"{digest.get('action_items', 0)} action items")
        if message.get("categories"):
            text.append(f"; categories: {', '.join(message['categories'])}", style="bold")
        if message.get("analyses_valid"):
            text.append("; ")
            text.append_text(validity_text(message))
        elif digest.get("invalid_analyses"):
            text.append(f"; invalid: {', '.join(digest['invalid_analyses'])}", style="red")
    return text


def print_call(console: Console, view: CallView) -> None:
    console.print(call_renderable(view))
