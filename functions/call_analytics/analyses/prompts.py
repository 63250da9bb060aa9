"""Prompt texts, derived from the AssemblyAI cookbooks (seeds 000/001 phases, 002 sentiment, 003 action items)."""

from __future__ import annotations

from call_analytics.profiles.model import (
    ActionItemsAnalysis,
    PhasesAnalysis,
    SentimentAnalysis,
)

FORMAT_NOTES = {
    "vtt": "You will be given the transcript in the format of VTT captions.",
    "compact": "You will be given the transcript with one line per utterance: "
    "[start-end seconds] speaker: text.",
}
TRANSCRIPT_LABELS = {"vtt": "VTT Transcript:", "compact": ""}
JSON_ONLY = "Reply with the JSON object only, no other text."


def transcript_block(transcript_format: str, rendering: str) -> str:
    label = TRANSCRIPT_LABELS[transcript_format]
    return f"{label}\n{rendering}".strip("\n") if label else rendering.strip("\n")


def phases_task(config: PhasesAnalysis, transcript_format: str) -> str:
    return f"""Analyze the following transcript of a phone call conversation and divide it into the following phases:
{', '.join(config.phases)}

{FORMAT_NOTES[transcript_format]}

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

Ensure that all parts of the conversation are covered by a phase, using "Other" for any parts \
that don't fit into the specified phases.
List the phases in chronological order without overlaps."""


def questions_text(config: SentimentAnalysis) -> str:
    blocks = []
    for q in config.questions:
        block = f"Question: {q.question}"
        if q.context:
            block += f"\nContext: {q.context}"
        answer_format = q.answer_format or config.answer_format
        if answer_format:
            block += f"\nAnswer Format: {answer_format}"
        blocks.append(block)
    return "\n\n".join(blocks)


SENTIMENT_INTRO = """You are an expert at analyzing call transcripts.
Given the series of questions below, answer them accurately and concisely.
When context or answer format is provided, use it to guide your answers."""

SENTIMENT_FORMAT = """For every question give the question text exactly as asked, your answer, the reason for it, \
and a short verbatim quote from the transcript that supports it.
Format your response as a JSON object with the following structure:
{"answers": [{"question": "...", "answer": "...", "reason": "...", "quote": "..."}]}"""


def action_items_task(config: ActionItemsAnalysis) -> str:
    guidelines = "\n".join(f"- {g}" for g in config.guidelines)
    text = f"Here are guidelines to follow:\n{guidelines}\n"
    if config.answer_format:
        text += f"\nEach action item should follow this format: {config.answer_format}\n"
    text += """
Format your response as a JSON object with the following structure:
{"action_items": [{"item": "what should get done", "owner": "who should do it, or null if not stated", \
"due_date": "when, as stated in the call, or null if not stated"}]}
Use an empty list if nothing needs to be done."""
    return text


def phases_prompt(config: PhasesAnalysis, transcript_format: str, rendering: str) -> str:
    return f"{phases_task(config, transcript_format)}\n{JSON_ONLY}\n\n{transcript_block(transcript_format, rendering)}"


def sentiment_prompt(config: SentimentAnalysis, transcript_format: str, rendering: str) -> str:
    # the compact rendering starts with its own "Transcript (...)" header line
    block = rendering.strip("\n") if transcript_format == "compact" else f"Transcript:\n{rendering.strip()}"
    return (
        f"{SENTIMENT_INTRO}\n{FORMAT_NOTES[transcript_format]}\n\n{block}\n\n"
        f"Questions:\n{questions_text(config)}\n\n{SENTIMENT_FORMAT}\n{JSON_ONLY}"
    )


def action_items_prompt(config: ActionItemsAnalysis, transcript_format: str, rendering: str) -> str:
    return (
        f"{action_items_task(config)}\n{FORMAT_NOTES[transcript_format]}\n{JSON_ONLY}\n\n"
        f"{transcript_block(transcript_format, rendering)}"
    )


def combined_prompt(
    phases: PhasesAnalysis | None,
    sentiment: SentimentAnalysis | None,
    action_items: ActionItemsAnalysis | None,
    transcript_format: str,
    rendering: str,
) -> str:
    parts = [
        "Analyze the transcript of a phone call below and complete every task. "
        "Return one JSON object that holds the answers of all tasks under the keys named in each task.",
        FORMAT_NOTES[transcript_format],
    ]
    number = 0
    if phases:
        number += 1
        parts.append(f'Task {number} (key "phases"):\n{phases_task(phases, transcript_format)}')
    if sentiment:
        number += 1
        parts.append(
            f'Task {number} (key "answers"):\n{SENTIMENT_INTRO}\n\n'
            f"Questions:\n{questions_text(sentiment)}\n\n{SENTIMENT_FORMAT}"
        )
    if action_items:
        number += 1
        parts.append(f'Task {number} (key "action_items"):\n{action_items_task(action_items)}')
    parts.append(JSON_ONLY)
    parts.append(transcript_block(transcript_format, rendering))
    return "\n\n".join(parts)


def repair_prompt(errors: list[str]) -> str:
    listed = "\n".join(f"- {e}" for e in errors)
    return (
        "Your previous answer could not be used because it failed validation:\n"
        f"{listed}\n\nReply again with the corrected, complete JSON object that follows the requested structure. "
        + JSON_ONLY
    )
