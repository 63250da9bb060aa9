"""Prompt texts, derived from the AssemblyAI cookbooks (seeds 000/001 phases, 002 sentiment, 003 action items)."""

from __future__ import annotations

from call_analytics.analyses.checks import checks_text
from call_analytics.profiles.model import (
    ActionItemsAnalysis,
    PhasesAnalysis,
    SentimentAnalysis,
)

#: Every request carries a strict json_schema (schemas.py): the answer's keys, types, phase names and question
#: texts are enforced there, so the prompts hold only what the schema cannot say (the seeds' instructions and
#: the meaning of the fields). The compact rendering explains itself in its header line (compact.py).
FORMAT_NOTES = {"vtt": "You will be given the transcript in the format of VTT captions.", "compact": ""}
TRANSCRIPT_LABELS = {"vtt": "VTT Transcript:", "compact": ""}
JSON_ONLY = "Reply with the JSON object only, no other text."  # repair requests only


def _lines(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def transcript_block(transcript_format: str, rendering: str) -> str:
    label = TRANSCRIPT_LABELS[transcript_format]
    return f"{label}\n{rendering}".strip("\n") if label else rendering.strip("\n")


def _lean_phases_task(config: PhasesAnalysis) -> str:
    # the seed 000/001 instructions, said once and briefly (the schema carries names, times and summary)
    return (f"Divide the phone call into these phases: {', '.join(config.phases)}. Give each phase its start and "
            "end time (seconds) and a brief summary of what happened in it. Cover the whole call in chronological "
            'order without overlaps; use "Other" for parts that fit no phase.')


def _lean_questions_text(config: SentimentAnalysis) -> str:
    """The seeds' `Question:` / `Context:` / `Answer Format:` blocks, each context and answer format stated once:
    the profile's shared answer format above the questions (the seeds repeat it in every block), a context several
    questions share as `Context N` that those questions name, a question's own format in its block."""
    shared = config.answer_format
    contexts: list[str] = []
    for q in config.questions:
        if q.context and q.context not in contexts:
            contexts.append(q.context)
    reused = {c for c in contexts if sum(q.context == c for q in config.questions) > 1}
    numbered = {c: n for n, c in enumerate((c for c in contexts if c in reused), start=1)}
    lines = []
    if shared:
        own = any(q.answer_format and q.answer_format != shared for q in config.questions)
        lines.append(f"Answer Format ({'unless a question gives its own' if own else 'all questions'}): {shared}")
    lines += [f"Context {n}: {c}" for c, n in numbered.items()]
    for q in config.questions:
        line = f"Question: {q.question}"
        if q.context:
            line += f" (Context {numbered[q.context]})" if q.context in numbered else f"\nContext: {q.context}"
        if q.answer_format and q.answer_format != shared:
            line += f"\nAnswer Format: {q.answer_format}"
        lines.append(line)
    return "\n".join(lines)


LEAN_SENTIMENT_INTRO = "Answer each question accurately and concisely, as its context and format say."

SENTIMENT_FORMAT = "Give each answer its reason and a short verbatim quote from the transcript that supports it."
SENTIMENT_FORMAT_SHORT = "Each answer has its reason and a short supporting verbatim quote."


def _lean_action_items_task(config: ActionItemsAnalysis) -> str:
    guidelines = "\n".join(f"- {g}" for g in config.guidelines)
    return _lines(
        f"List the action items, following these guidelines:\n{guidelines}",
        f"Each action item should follow this format: {config.answer_format}" if config.answer_format else "",
        "Owner and due date only as stated in the transcript, else null.",
    )


# ---- the tutorials' own wording (llm.prompt_style "seeds": profile `seeds`, each request as the seeds send it) ----
def _seeds_phases_task(config: PhasesAnalysis) -> str:
    return f"""Analyze the following transcript of a phone call conversation and divide it into the following phases:
{', '.join(config.phases)}

For each phase:
1. Identify the start and end timestamps (in seconds)
2. Provide a brief summary of what happened in that phase

Ensure that all parts of the conversation are covered by a phase, using "Other" for any parts \
that don't fit into the specified phases.
List the phases in chronological order without overlaps."""


def _seeds_questions_text(config: SentimentAnalysis) -> str:
    """The seeds' `Question:` / `Context:` / `Answer Format:` blocks; the profile's shared answer format is
    stated once above them (the seeds repeat it in every block), a question's own format stays in its block."""
    shared = config.answer_format
    blocks = []
    for q in config.questions:
        block = f"Question: {q.question}"
        if q.context:
            block += f"\nContext: {q.context}"
        if q.answer_format and q.answer_format != shared:
            block += f"\nAnswer Format: {q.answer_format}"
        blocks.append(block)
    if shared:
        own = any(q.answer_format and q.answer_format != shared for q in config.questions)
        scope = "unless a question gives its own" if own else "all questions"
        blocks.insert(0, f"Answer Format ({scope}): {shared}")
    return "\n\n".join(blocks)


SEEDS_SENTIMENT_INTRO = """You are an expert at analyzing call transcripts.
Given the series of questions below, answer them accurately and concisely.
When context or answer format is provided, use it to guide your answers."""

def _seeds_action_items_task(config: ActionItemsAnalysis) -> str:
    guidelines = "\n".join(f"- {g}" for g in config.guidelines)
    return _lines(
        f"Here are guidelines to follow:\n{guidelines}",
        f"Each action item should follow this format: {config.answer_format}" if config.answer_format else "",
        "Owner and due date only as stated in the transcript, else null.",
    )



#: llm.prompt_style -> (phases task, questions, sentiment intro, action-item task): "lean" states each instruction
#: once and briefly (issue 13: tokens), "seeds" keeps the tutorials' words
STYLES = {
    "lean": (_lean_phases_task, _lean_questions_text, LEAN_SENTIMENT_INTRO, _lean_action_items_task),
    "seeds": (_seeds_phases_task, _seeds_questions_text, SEEDS_SENTIMENT_INTRO, _seeds_action_items_task),
}


def phases_task(config: PhasesAnalysis, style: str = "lean") -> str:
    return STYLES[style][0](config)


def questions_text(config: SentimentAnalysis, style: str = "lean") -> str:
    return STYLES[style][1](config)


def sentiment_intro(style: str = "lean") -> str:
    return STYLES[style][2]


def action_items_task(config: ActionItemsAnalysis, style: str = "lean") -> str:
    return STYLES[style][3](config)


def phases_prompt(config: PhasesAnalysis, transcript_format: str, rendering: str, style: str = "lean") -> str:
    return (
        f"{_lines(phases_task(config, style), FORMAT_NOTES[transcript_format])}\n\n"
        f"{transcript_block(transcript_format, rendering)}"
    )


def sentiment_prompt(config: SentimentAnalysis, transcript_format: str, rendering: str,
                     checks: list[str] | None = None, style: str = "lean") -> str:
    # the compact rendering starts with its own "Transcript (...)" header line
    block = rendering.strip("\n") if transcript_format == "compact" else f"Transcript:\n{rendering.strip()}"
    extra = f'\n\nAlso, under the key "checks": {checks_text(checks)}' if checks else ""
    return (
        f"{_lines(sentiment_intro(style), FORMAT_NOTES[transcript_format])}\n\n{block}\n\n"
        f"Questions:\n{questions_text(config, style)}\n\n{SENTIMENT_FORMAT}{extra}"
    )


def action_items_prompt(config: ActionItemsAnalysis, transcript_format: str, rendering: str,
                        style: str = "lean") -> str:
    return (
        f"{_lines(action_items_task(config, style), FORMAT_NOTES[transcript_format])}\n\n"
        f"{transcript_block(transcript_format, rendering)}"
    )


def combined_prompt(
    phases: PhasesAnalysis | None,
    sentiment: SentimentAnalysis | None,
    action_items: ActionItemsAnalysis | None,
    transcript_format: str,
    rendering: str,
    checks: list[str] | None = None,
    style: str = "lean",
) -> str:
    parts = [
        _lines("Do every task below for the phone call transcript at the end, in one JSON object with each task's "
               "answer under its key.", FORMAT_NOTES[transcript_format])
    ]
    number = 0
    if phases:
        number += 1
        parts.append(f'Task {number} (key "phases"): {phases_task(phases, style)}')
    if sentiment:
        number += 1
        parts.append(f'Task {number} (key "answers"): {sentiment_intro(style)} {SENTIMENT_FORMAT_SHORT}\n'
                     f"{questions_text(sentiment, style)}")
    if action_items:
        number += 1
        parts.append(f'Task {number} (key "action_items"): {action_items_task(action_items, style)}')
    if checks:
        number += 1
        parts.append(f'Task {number} (key "checks"): {checks_text(checks)}')
    parts.append(transcript_block(transcript_format, rendering))
    return "\n\n".join(parts)


def repair_prompt(errors: list[str]) -> str:
    listed = "\n".join(f"- {e}" for e in errors)
    return (
        "Your previous answer could not be used because it failed validation:\n"
        f"{listed}\n\nReply again with the corrected, complete JSON object that follows the requested structure. "
        + JSON_ONLY
    )
