"""The offline engine reads what a free-form prompt asks for and answers in that shape (unit level, no server).

The transcripts here are written for these tests (not the sample calls): other companies, other wording."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from local_assemblyai.analyzers import LABEL, AnalysisInput, OfflineAnalyzer
from local_assemblyai.analyzers.action_items import extract_action_items
from local_assemblyai.analyzers.prompt_kinds import classify, is_yes_no, parse_questions
from local_assemblyai.analyzers.questions import yes_no
from local_assemblyai.analyzers.summary import summarize_turn
from local_assemblyai.transcript_parse import Line

# the tutorials' three requests, as bench/seeds.py reproduces them (loaded by path: tests/bench shadows `bench`)
_SEEDS_PY = Path(__file__).resolve().parents[2] / "bench" / "seeds.py"
_spec = importlib.util.spec_from_file_location("bench_seeds", _SEEDS_PY)
seeds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seeds)

CALL = [
    ("Agent", "Thanks for calling Lakeside Water, this is Omar. How can I help you today?"),
    ("Customer", "Hi Omar, my name is Julia Park. My water bill doubled this quarter and I don't understand why."),
    ("Agent", "I'm sorry about that. Can you confirm the postcode on the account?"),
    ("Customer", "It's N W one, three Q R. Honestly, this is the third time, I want to speak to a manager."),
    ("Agent", "I understand. I can see a leak alert from your smart meter on the twelfth."),
    ("Agent", "I'll send a plumber to check the pipe on Monday morning, and I'm also waiving the extra charge."),
    ("Customer", "Okay, that helps. I'll check the garden tap tonight."),
    ("Agent", "Could you text us a photo of the meter reading?"),
    ("Customer", "Sure, I can do that after this call."),
    ("Agent", "Great. Is there anything else I can help with?"),
    ("Customer", "No, that's all. Thanks, goodbye."),
]


def lines(labels: dict[str, str] | None = None) -> list[Line]:
    labels = labels or {}
    return [Line(i * 6.0, i * 6.0 + 5.0, labels.get(s, s), t) for i, (s, t) in enumerate(CALL)]


def compact(labels: dict[str, str] | None = None) -> str:
    return "Transcript:\n" + "\n".join(f"[{ln.start:.1f}-{ln.end:.1f}] {ln.speaker}: {ln.text}"
                                       for ln in lines(labels))


@pytest.fixture(scope="module")
def analyzer() -> OfflineAnalyzer:
    return OfflineAnalyzer()


def ask(analyzer, content: str, response_format=None) -> str:
    return analyzer.answer(AnalysisInput(messages=[{"role": "user", "content": content}],
                                         response_format=response_format))


def test_the_tutorials_prompts_are_recognised():
    phases = classify(seeds.phases_request("")["messages"][0]["content"])
    assert phases.kind == "phases" and phases.phases == seeds.PHASES
    assert phases.list_key == "phases" and phases.item_keys == {"name": "name", "start": "start_time",
                                                                "end": "end_time", "summary": "summary"}
    questions = classify(seeds.sentiment_request("t")["messages"][0]["content"])
    assert questions.kind == "questions"
    assert [q.question for q in questions.questions] == [q for q, _ in seeds.QUESTIONS]
    assert all(q.context and q.answer_format == seeds.ANSWER_FORMAT for q in questions.questions)
    actions = classify(seeds.action_items_request("t")["messages"][0]["content"])
    assert actions.kind == "action_items" and actions.answer_format == "Bullet Points"
    assert classify("Provide a brief summary of the transcript.\n\nTranscript: hello").kind == "summary"
    assert classify("What's the main take-away from the transcript?").kind == "summary"
    assert classify("Translate this into French.").kind == "unknown"


def test_shared_answer_format_and_yes_no_detection():
    qs = parse_questions("Answer Format (unless a question gives its own): <answer> <reason>\n\n"
                         "Question: Was the customer retained?\nAnswer Format: <yes or no> <reason>\n\n"
                         "Question: How interested was the caller?")
    assert [(q.question, q.answer_format) for q in qs] == [("Was the customer retained?", "<yes or no> <reason>"),
                                                          ("How interested was the caller?", "<answer> <reason>")]
    assert is_yes_no("Was the customer retained?") and is_yes_no("Which plan?", "<yes or no> <why>")
    assert not is_yes_no("How interested was the caller?")


def test_phases_answer_is_json_with_the_prompts_own_keys(analyzer):
    prompt = ("Divide this call into the following phases: Greeting, Problem, Fix, Farewell\n"
              'Answer as JSON: {"segments": [{"label": "...", "from": 0, "to": 1, "description": "..."}]}\n\n'
              + compact())
    data = json.loads(ask(analyzer, prompt))
    segs = data["segments"]
    assert all(set(s) == {"label", "from", "to", "description"} for s in segs)
    assert [s["label"] for s in segs] == ["Greeting", "Problem", "Fix", "Farewell"]
    assert segs[0]["from"] == 0.0 and segs[-1]["to"] == lines()[-1].end
    assert all(a["to"] == b["from"] for a, b in zip(segs, segs[1:], strict=False))


def test_question_list_gets_one_answer_per_question_in_its_format(analyzer):
    prompt = ("Answer the questions.\n\nTranscript:\n{{ transcript }}\n\nQuestions:\n"
              "Question: Did the customer ask to speak to a supervisor or manager?\nAnswer Format: <yes or no> <reason>"
              "\n\nQuestion: Did the agent offer a refund?\nAnswer Format: <yes or no> <reason>\n\n"
              "Question: What was the sentiment of the customer in this call?\n"
              "Answer Format: <answer in one sentence> <reason in one sentence>")
    text = " ".join(t for _, t in CALL)
    out = analyzer.answer(AnalysisInput(messages=[{"role": "user", "content": prompt.replace("{{ transcript }}",
                                                                                               text)}],
                                        stored_lines=lines(), substituted_text=text))
    answers = re.findall(r"(?m)^Answer: (.+)$", out)
    assert len(answers) == 3, out
    assert answers[0].startswith("Yes.") and "I want to speak to a manager" in answers[0]
    assert answers[1].startswith("No.")
    assert re.search(r"\b(positive|negative|neutral)\b", answers[2])


def test_yes_no_reads_negation_conditionals_and_retention():
    convo = [Line(0, 1, "A", "Thank you for calling, how can I help?"),
             Line(1, 2, "B", "If this isn't fixed I'll ask for your manager. I want to cancel my plan."),
             Line(2, 3, "A", "I'm afraid I can't offer a refund, but I can give you a loyalty discount."),
             Line(3, 4, "B", "Fine, in that case I'll stay.")]
    assert yes_no("Did the customer ask to speak to a supervisor or manager?", convo).yes_no == "no"
    assert yes_no("Did the agent offer a refund?", convo).yes_no == "no"
    disc = yes_no("Did the agent offer a discount or credit?", convo)
    assert disc.yes_no == "yes" and disc.quote in convo[2].text
    kept = yes_no("Was the customer retained?", convo)
    assert kept.yes_no == "yes" and kept.quote == "Fine, in that case I'll stay."
    gone = convo[:3] + [Line(3, 4, "A", "Your cancellation is confirmed for Friday.")]
    assert yes_no("Was the customer retained?", gone).yes_no == "no"


@pytest.mark.parametrize("labels", [None, {"Agent": "A", "Customer": "B"}])
def test_action_items_are_commitments_with_roles_and_dues_as_said(labels):
    items = extract_action_items(lines(labels))
    assert {"item": "Send a plumber to check the pipe", "owner": "agent", "due_date": "on Monday morning"} in items
    assert {"item": "Waive the extra charge", "owner": "agent", "due_date": None} in items
    assert {"item": "Check the garden tap", "owner": "customer", "due_date": "tonight"} in items
    # the request the customer accepted ("Sure, I can do that after this call") is the customer's item
    assert {"item": "Text the company a photo of the meter reading", "owner": "customer",
            "due_date": "after this call"} in items
    assert len(items) == 4


def test_bullets_for_the_tutorial_action_items_prompt(analyzer):
    out = ask(analyzer, seeds.action_items_request("t")["messages"][0]["content"].replace("{{ transcript }}",
                                                                                           compact()))
    bullets = out.splitlines()
    assert len(bullets) == 4 and all(b.startswith("- ") for b in bullets)
    assert bullets[0] == "- Send a plumber to check the pipe (owner: agent, due: on Monday morning)"


def test_checks_alone_or_with_other_keys(analyzer):
    questions = ["Did the customer ask to speak to a supervisor or manager?", "Did the agent offer a refund?"]
    checks = {"type": "array", "items": {"type": "object", "properties": {"question": {"enum": questions},
                                                                         "answer": {"enum": ["yes", "no"]},
                                                                         "quote": {"type": "string"}}}}
    rf = {"type": "json_schema", "json_schema": {"name": "call_analysis", "schema": {
        "type": "object", "properties": {"checks": checks}}}}
    data = json.loads(ask(analyzer, compact(), rf))
    assert list(data) == ["checks"]
    assert data["checks"] == [
        {"question": questions[0], "answer": "yes",
         "quote": "Honestly, this is the third time, I want to speak to a manager."},
        {"question": questions[1], "answer": "no", "quote": ""}]
    rf["json_schema"]["schema"]["properties"]["action_items"] = {"type": "array"}
    both = json.loads(ask(analyzer, compact(), rf))
    assert set(both) == {"checks", "action_items"} and len(both["action_items"]) == 4


def test_structured_yes_no_question_is_answered_yes_or_no_with_a_quote(analyzer):
    q = "Did the agent secure a concrete next step?"
    rf = {"type": "json_schema", "json_schema": {"name": "call_sentiment", "schema": {
        "type": "object", "properties": {"answers": {"type": "array", "items": {"type": "object", "properties": {
            "question": {"enum": [q]}}}}}}}}
    prompt = f"Questions:\nQuestion: {q}\nAnswer Format: <yes or no> <what was agreed>\n\n{compact()}"
    (a,) = json.loads(ask(analyzer, prompt, rf))["answers"]
    assert a["answer"].startswith("Yes.") and "plumber" in a["answer"] and a["quote"] in compact()


def test_turn_summary_is_not_the_turn_echoed(analyzer):
    turn = "Hi, this is Grace from Contour Bikes. Your new frame arrived this morning, so I can fit it on Friday."
    s = summarize_turn(turn)
    assert s != turn and s.startswith("The speaker introduces themselves as Grace") and "Friday" in s
    out = analyzer.answer(AnalysisInput(messages=[{"role": "user", "content": f"Provide a brief summary of the "
                                                                               f"transcript.\n\nTranscript: {turn}"}]),
                          turn_text=turn)
    assert out == s
    assert summarize_turn("Thanks, bye.") == "The speaker says goodbye and thanks the other person."


def test_the_edge_clients_own_default_prompt_gets_a_turn_summary(analyzer):
    from edge_client.settings import DEFAULT_PROMPT

    turn = "I was charged twice this month and I would like a refund."
    content = DEFAULT_PROMPT.replace("{{turn}}", turn)
    assert classify(content).kind == "summary"
    out = analyzer.answer(AnalysisInput(messages=[{"role": "user", "content": content}]), turn_text=turn)
    assert not out.startswith(LABEL) and out != turn and "refund" in out


def test_unrecognised_prompts_keep_the_labelled_extractive_fallback(analyzer):
    out = ask(analyzer, "Rewrite the following as a haiku.\n\n" + compact())
    assert out.startswith(LABEL)
