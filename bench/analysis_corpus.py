"""A varied, scripted corpus for judging the offline analyzers (bench row `analysis_quality`).

Independent of `samples/scripts` (the tests' sample calls): other companies, other problems, other
wording, two phase sets, agents who do not always speak first, commitments made by either side, requests
the other party accepts, and due dates said in many ways. Per call the truth is:

* `lines`: (role, phase, text) per utterance; the timing is synthesised from the word count
  (`timed_lines`), so "share of call time" is well defined without audio.
* `commitments`: what someone on the call committed to (owner role, the item, the due date as said).
* `checks`: yes/no category questions (the pipeline's `checks` and the tutorials' `<yes or no>` format)
  with the right answer for this call.

Rendered as the pipeline sends transcripts: compact lines (`[12.4-17.9] A: text`, with letters or role
names) and VTT cues without speakers (what GET /v2/transcript/{id}/vtt returns).
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUPPORT_PHASES = ["Introduction", "Complaint", "Resolution", "Goodbye"]
SALES_PHASES = ["Opening", "Discovery", "Pitch", "Objections", "Close"]

Q_SUPERVISOR = "Did the customer ask to speak to a supervisor or manager?"
Q_REFUND = "Did the agent offer a refund?"
Q_APOLOGY = "Did the agent apologize to the customer?"
Q_CANCEL = "Did the customer threaten to cancel their service?"
Q_RETAINED = "Was the customer retained?"
Q_APPOINTMENT = "Was an appointment or visit scheduled?"
Q_IDENTITY = "Did the agent verify the customer's identity?"
Q_COMPETITOR = "Did the customer mention a competitor?"
Q_DISCOUNT = "Did the agent offer a discount or credit?"
Q_NEXT_STEP = "Did the agent secure a concrete next step?"


@dataclass
class ScriptedCall:
    id: str
    phases: list[str]
    lines: list[tuple[str, str, str]]
    commitments: list[dict]
    checks: dict[str, str]
    first_start: float = 0.6
    labels: str = "letters"          # letters (A/B by first appearance) or roles (Agent/Customer)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TimedLine:
    start: float
    end: float
    role: str
    phase: str
    text: str


def timed_lines(call: ScriptedCall) -> list[TimedLine]:
    """Speech at ~2.6 words per second, 0.5-0.9 s pauses between turns (deterministic)."""
    out: list[TimedLine] = []
    t = call.first_start
    for i, (role, phase, text) in enumerate(call.lines):
        dur = round(0.4 + len(text.split()) / 2.6, 2)
        out.append(TimedLine(round(t, 2), round(t + dur, 2), role, phase, text))
        t += dur + 0.5 + 0.1 * (i % 5)
    return out


def speaker_names(call: ScriptedCall) -> dict[str, str]:
    if call.labels == "roles":
        return {"agent": "Agent", "customer": "Customer"}
    order: list[str] = []
    for role, _, _ in call.lines:
        if role not in order:
            order.append(role)
    return {role: chr(ord("A") + i) for i, role in enumerate(order)}


COMPACT_HEADER = "Transcript (one line per utterance: [start-end seconds] speaker: text):"


def render_compact(call: ScriptedCall, whole_seconds: bool = False) -> str:
    import math

    names = speaker_names(call)
    rows = []
    for ln in timed_lines(call):
        span = (f"{math.floor(ln.start)}-{math.ceil(ln.end)}" if whole_seconds else f"{ln.start:.1f}-{ln.end:.1f}")
        rows.append(f"[{span}] {names[ln.role]}: {ln.text}")
    return COMPACT_HEADER + "\n" + "\n".join(rows)


def _ts(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    m, rem = divmod(ms, 60_000)
    s, milli = divmod(rem, 1000)
    return f"{m:02d}:{s:02d}.{milli:03d}"


def render_vtt(call: ScriptedCall, chars_per_caption: int = 80) -> str:
    """Cues of at most 80 characters that break at speaker changes, no speaker names (like the server)."""
    body = []
    for ln in timed_lines(call):
        words = ln.text.split()
        per_word = (ln.end - ln.start) / max(1, len(words))
        cue: list[str] = []
        cue_start = 0
        for i, w in enumerate(words):
            if cue and len(" ".join([*cue, w])) > chars_per_caption:
                body.append((ln.start + cue_start * per_word, ln.start + i * per_word, " ".join(cue)))
                cue, cue_start = [], i
            cue.append(w)
        body.append((ln.start + cue_start * per_word, ln.end, " ".join(cue)))
    return "WEBVTT\n\n" + "".join(f"{_ts(a)} --> {_ts(b)}\n{text}\n\n" for a, b, text in body)


def plain_text(call: ScriptedCall) -> str:
    """The transcript's `text` field (what `{{ transcript }}` becomes with a transcript_id)."""
    return " ".join(text for _, _, text in call.lines)


CALLS: list[ScriptedCall] = [
    ScriptedCall(
        id="harbor_bank_card_fraud",
        phases=SUPPORT_PHASES,
        lines=[
            ("agent", "Introduction", "Harbor Bank, you're speaking with Priya. Who do I have on the line?"),
            ("customer", "Introduction", "Hi Priya, it's Marcus Webb. I've got a problem with my debit card."),
            ("agent", "Introduction", "Sorry to hear that, Marcus. Before we go on, can you give me your date of "
                                      "birth and the last four digits of the card?"),
            ("customer", "Introduction", "Sure. March third, nineteen eighty-five, and the card ends in two two "
                                         "one zero."),
            ("agent", "Introduction", "Thanks, you're verified. What's going on with the card?"),
            ("customer", "Complaint", "There are three payments on my statement from an online electronics shop "
                                      "that I never made, about four hundred dollars in total."),
            ("customer", "Complaint", "And nobody from the bank called me about it. I'm honestly pretty angry."),
            ("agent", "Complaint", "I completely understand, and I apologize that our fraud alerts didn't catch "
                                   "this. I can see the three transactions from Tuesday night."),
            ("customer", "Complaint", "So what happens to my money? I need that for rent."),
            ("agent", "Resolution", "Here's the plan. I'm going to block this card right now so nothing else can "
                                    "go through."),
            ("agent", "Resolution", "I'll also open a fraud claim and put the four hundred dollars back into your "
                                    "account as a temporary credit within twenty-four hours."),
            ("customer", "Resolution", "Okay, that helps. What about a new card?"),
            ("agent", "Resolution", "We'll mail a replacement card to your home address, and it should arrive in "
                                    "five to seven business days."),
            ("customer", "Resolution", "Fine. I'll go through my statements from last month and report anything "
                                       "else that looks strange by Friday."),
            ("agent", "Goodbye", "That would be great. Is there anything else I can do for you today?"),
            ("customer", "Goodbye", "No, that's it. Thanks for sorting it out so quickly."),
            ("agent", "Goodbye", "You're very welcome, Marcus. Take care and have a good evening."),
        ],
        commitments=[
            {"owner": "agent", "item": "block the card", "due": "right now"},
            {"owner": "agent", "item": "open a fraud claim and credit the four hundred dollars back to the account",
             "due": "within twenty-four hours"},
            {"owner": "agent", "item": "mail a replacement card to the home address",
             "due": "in five to seven business days"},
            {"owner": "customer", "item": "go through last month's statements and report anything strange",
             "due": "by Friday"},
        ],
        checks={Q_SUPERVISOR: "no", Q_REFUND: "yes", Q_APOLOGY: "yes", Q_CANCEL: "no", Q_IDENTITY: "yes",
                Q_APPOINTMENT: "no", Q_COMPETITOR: "no"},
    ),
    ScriptedCall(
        id="skyline_air_missed_connection",
        phases=SUPPORT_PHASES,
        labels="roles",
        lines=[
            ("agent", "Introduction", "Good afternoon and welcome to Skyline Air reservations, my name is Jonas."),
            ("agent", "Introduction", "May I have your booking reference, please?"),
            ("customer", "Introduction", "Yes, it's K as in kilo, seven, Q, nine, nine, F. My name is Aisha "
                                         "Rahman."),
            ("agent", "Introduction", "Thank you, Ms. Rahman, I have your booking here. How can I help?"),
            ("customer", "Complaint", "My first flight was delayed by two hours and I missed my connection in "
                                      "Denver. I've been stuck at the airport all night."),
            ("customer", "Complaint", "The desk staff told me to call you, and I've already been on hold for forty "
                                      "minutes. This is ridiculous."),
            ("customer", "Complaint", "I want to talk to a supervisor about this."),
            ("agent", "Complaint", "I hear you, and I'm really sorry for the long wait and the missed connection. "
                                   "Let me see what I can do first, and if you still want a supervisor I'll "
                                   "transfer you."),
            ("agent", "Resolution", "I've found a seat on the seven fifteen flight to Portland tomorrow morning, "
                                    "and I can confirm it for you now."),
            ("customer", "Resolution", "Yes, please book that."),
            ("agent", "Resolution", "Done. I'm also issuing a hotel voucher and a meal voucher for tonight, and "
                                    "I'll email both to you within the next ten minutes."),
            ("agent", "Resolution", "Because the delay was our fault, I'm refunding the unused part of your ticket "
                                    "to your original payment card."),
            ("customer", "Resolution", "Alright. I'll send you my receipt for the taxi so you can reimburse that "
                                       "too."),
            ("agent", "Resolution", "Please do, and I'll make sure the taxi cost is added to the claim."),
            ("agent", "Goodbye", "Is there anything else I can help you with this evening?"),
            ("customer", "Goodbye", "No, I just want to get some sleep. Thank you, Jonas."),
            ("agent", "Goodbye", "Safe travels, Ms. Rahman. Goodbye."),
        ],
        commitments=[
            {"owner": "agent", "item": "email the hotel voucher and the meal voucher", "due": "within the next ten "
                                                                                             "minutes"},
            {"owner": "agent", "item": "refund the unused part of the ticket to the original payment card",
             "due": None},
            {"owner": "customer", "item": "send the taxi receipt", "due": None},
            {"owner": "agent", "item": "add the taxi cost to the claim", "due": None},
        ],
        checks={Q_SUPERVISOR: "yes", Q_REFUND: "yes", Q_APOLOGY: "yes", Q_CANCEL: "no", Q_IDENTITY: "yes",
                Q_APPOINTMENT: "no", Q_COMPETITOR: "no"},
    ),
    ScriptedCall(
        id="brightwave_mobile_cancellation",
        phases=SUPPORT_PHASES,
        lines=[
            ("agent", "Introduction", "Hello, you've reached Brightwave Mobile, Carla speaking. How can I help you?"),
            ("customer", "Introduction", "Hi Carla. My name is Ben Okafor and I'm ringing to cancel my contract."),
            ("agent", "Introduction", "I can help with that, Ben. Can you confirm the postcode on the account?"),
            ("customer", "Introduction", "It's L S six, four T R."),
            ("customer", "Complaint", "Honestly, my bill went up by twelve pounds this year and the signal at my "
                                      "flat is terrible."),
            ("customer", "Complaint", "Telmax is offering me the same plan for fifteen pounds a month, so I'm "
                                      "planning to switch."),
            ("agent", "Complaint", "I understand. Nobody likes a price rise, especially when the coverage isn't "
                                   "good enough."),
            ("agent", "Resolution", "Before you go, I can move you to our loyalty plan at fourteen pounds a "
                                    "month with double the data."),
            ("agent", "Resolution", "And I'll send you a free signal booster for the flat."),
            ("customer", "Resolution", "Fourteen pounds with a booster? Okay, in that case I'll stay."),
            ("agent", "Resolution", "Brilliant. I'll switch the plan from your next bill, and the booster will be "
                                    "dispatched tomorrow."),
            ("customer", "Resolution", "Great. I'll let you know if the signal is still bad after a week."),
            ("agent", "Goodbye", "Perfect. Thanks for staying with us, Ben. Anything else today?"),
            ("customer", "Goodbye", "No, that's everything. Cheers, bye."),
        ],
        commitments=[
            {"owner": "agent", "item": "send a free signal booster", "due": "tomorrow"},
            {"owner": "agent", "item": "switch the plan to the loyalty plan", "due": "from your next bill"},
            {"owner": "customer", "item": "report if the signal is still bad", "due": "after a week"},
        ],
        checks={Q_SUPERVISOR: "no", Q_REFUND: "no", Q_APOLOGY: "no", Q_CANCEL: "yes", Q_RETAINED: "yes",
                Q_IDENTITY: "yes", Q_COMPETITOR: "yes", Q_DISCOUNT: "yes", Q_APPOINTMENT: "no"},
    ),
    ScriptedCall(
        id="greenleaf_insurance_claim_cancel",
        phases=SUPPORT_PHASES,
        labels="roles",
        lines=[
            ("agent", "Introduction", "Thanks for calling Greenleaf Home Insurance. This is Oliver. How may I "
                                      "assist you?"),
            ("customer", "Introduction", "Hello, this is Rosa Delgado. I'd like to cancel my home insurance "
                                         "policy."),
            ("agent", "Introduction", "I can look into that. For security, what's the policy number and your date "
                                      "of birth?"),
            ("customer", "Introduction", "Policy G H four four eight one, and I was born on June ninth, nineteen "
                                         "seventy."),
            ("customer", "Complaint", "I'm selling the house and moving abroad at the end of the month, so I "
                                      "don't need the policy anymore."),
            ("customer", "Complaint", "Last time I tried to cancel online the website kept showing an error."),
            ("agent", "Complaint", "I'm sorry about the website problem. I'll report that error to our web "
                                   "team."),
            ("agent", "Resolution", "I can set the cancellation for the thirtieth, the day the sale completes."),
            ("customer", "Resolution", "Yes, the thirtieth works."),
            ("agent", "Resolution", "Your cancellation is confirmed for the thirtieth. Any unused premium will be "
                                    "refunded to your bank account within ten working days."),
            ("agent", "Resolution", "Could you email us a copy of the sale completion letter?"),
            ("customer", "Resolution", "Sure, I can do that this week."),
            ("agent", "Goodbye", "Thank you, Ms. Delgado. Good luck with the move, and goodbye."),
            ("customer", "Goodbye", "Thanks, goodbye."),
        ],
        commitments=[
            {"owner": "agent", "item": "report the website error to the web team", "due": None},
            {"owner": "agent", "item": "refund the unused premium to the bank account",
             "due": "within ten working days"},
            {"owner": "customer", "item": "email a copy of the sale completion letter", "due": "this week"},
        ],
        checks={Q_SUPERVISOR: "no", Q_REFUND: "yes", Q_APOLOGY: "yes", Q_CANCEL: "yes", Q_RETAINED: "no",
                Q_IDENTITY: "yes", Q_COMPETITOR: "no", Q_APPOINTMENT: "no"},
    ),
    ScriptedCall(
        id="quickfix_appliance_repair",
        phases=SUPPORT_PHASES,
        lines=[
            ("customer", "Introduction", "Hello?"),
            ("agent", "Introduction", "Hi, this is Dev from QuickFix Appliances returning your call. Am I speaking "
                                      "with Helen?"),
            ("customer", "Introduction", "Yes, this is Helen. Thanks for calling back."),
            ("customer", "Complaint", "My washing machine stopped in the middle of a cycle and now it won't drain. "
                                      "There's water all over the kitchen floor."),
            ("agent", "Complaint", "Oh no. Is the machine still under warranty? Do you know the model?"),
            ("customer", "Complaint", "It's the WM five hundred, bought fourteen months ago, so the warranty "
                                      "should still be valid."),
            ("customer", "Complaint", "If this isn't fixed soon I'm going to ask your manager for a full "
                                      "replacement."),
            ("agent", "Resolution", "It's covered, don't worry. Our engineer can come on Wednesday between one and "
                                    "five in the afternoon."),
            ("customer", "Resolution", "Wednesday afternoon is fine."),
            ("agent", "Resolution", "Great, it's booked. I'll text you the engineer's name and a one hour window "
                                    "the evening before."),
            ("agent", "Resolution", "In the meantime, please unplug the machine and leave the door closed."),
            ("customer", "Resolution", "Okay, I'll unplug it now."),
            ("agent", "Goodbye", "Thanks Helen. Is there anything else?"),
            ("customer", "Goodbye", "No, that's all, thank you."),
            ("agent", "Goodbye", "You're welcome. Bye for now."),
        ],
        commitments=[
            {"owner": "agent", "item": "send a text with the engineer's name and a one hour window",
             "due": "the evening before"},
            {"owner": "customer", "item": "unplug the machine", "due": "now"},
        ],
        checks={Q_SUPERVISOR: "no", Q_REFUND: "no", Q_APOLOGY: "no", Q_CANCEL: "no", Q_APPOINTMENT: "yes",
                Q_IDENTITY: "no", Q_COMPETITOR: "no"},
    ),
    ScriptedCall(
        id="pixelcloud_login_outage",
        phases=SUPPORT_PHASES,
        lines=[
            ("agent", "Introduction", "PixelCloud technical support, Hana here. Could I get your name and the "
                                      "email on the account?"),
            ("customer", "Introduction", "Sure, Tomas Novak, tomas at novak design dot com."),
            ("agent", "Introduction", "Thanks Tomas, I've found your account. What can I do for you?"),
            ("customer", "Complaint", "Since this morning none of my team can log in. We get an error saying the "
                                      "session token is invalid."),
            ("customer", "Complaint", "We have a client presentation at three, so this is urgent."),
            ("agent", "Complaint", "I'm sorry, that's frustrating. There's a known issue with single sign-on for "
                                   "some workspaces today."),
            ("agent", "Resolution", "I've applied the workaround to your workspace. Could you try logging in "
                                    "again now?"),
            ("customer", "Resolution", "Let me see. Yes, it works now, I'm in."),
            ("agent", "Resolution", "Great. I'll keep your ticket open and send you an update once the permanent "
                                    "fix is deployed, probably by tomorrow evening."),
            ("agent", "Resolution", "We'll also credit your account with one week of service for the downtime."),
            ("customer", "Resolution", "That's fair. I'll tell the team they can log in again."),
            ("agent", "Goodbye", "Good luck with the presentation. Anything else?"),
            ("customer", "Goodbye", "No, thanks a lot. Bye."),
        ],
        commitments=[
            {"owner": "agent", "item": "send an update once the permanent fix is deployed",
             "due": "by tomorrow evening"},
            {"owner": "agent", "item": "credit the account with one week of service", "due": None},
            {"owner": "customer", "item": "tell the team they can log in again", "due": None},
        ],
        checks={Q_SUPERVISOR: "no", Q_REFUND: "no", Q_APOLOGY: "yes", Q_CANCEL: "no", Q_APPOINTMENT: "no",
                Q_DISCOUNT: "yes", Q_COMPETITOR: "no", Q_IDENTITY: "yes"},
    ),
    ScriptedCall(
        id="meadow_energy_meter_dispute",
        phases=SUPPORT_PHASES,
        labels="roles",
        lines=[
            ("agent", "Introduction", "Meadow Energy, good morning, Rachel speaking."),
            ("customer", "Introduction", "Morning. I'm calling about my gas bill, the account is under Peter "
                                         "Lindqvist."),
            ("agent", "Introduction", "Hi Peter. Can you confirm the first line of your address for me?"),
            ("customer", "Introduction", "Twelve Orchard Lane."),
            ("customer", "Complaint", "You've charged me three hundred and ten pounds for one month. That's three "
                                      "times what I normally pay, and I've been away for two weeks of it."),
            ("customer", "Complaint", "This is the second time this year, and frankly I want to speak to your "
                                      "manager."),
            ("agent", "Complaint", "I'm sorry, Peter. I can see the bill was based on an estimated reading, not "
                                   "a real one."),
            ("agent", "Complaint", "My team leader isn't available right now, but I can fix the bill myself if "
                                   "you give me a reading."),
            ("customer", "Resolution", "Fine. The meter says four five six seven two."),
            ("agent", "Resolution", "Thank you. With that reading the bill comes down to ninety-eight pounds. "
                                    "I'll reissue the corrected bill today."),
            ("agent", "Resolution", "I'm also arranging for my team leader to call you back before Thursday, as "
                                    "you asked."),
            ("customer", "Resolution", "Okay. I'll submit my readings every month from now on so this doesn't "
                                       "happen again."),
            ("agent", "Goodbye", "That's a good idea. Thanks for your patience, Peter. Have a nice day."),
            ("customer", "Goodbye", "You too, bye."),
        ],
        commitments=[
            {"owner": "agent", "item": "reissue the corrected bill", "due": "today"},
            {"owner": "agent", "item": "arrange a call back from the team leader", "due": "before Thursday"},
            {"owner": "customer", "item": "submit meter readings every month", "due": None},
        ],
        checks={Q_SUPERVISOR: "yes", Q_REFUND: "no", Q_APOLOGY: "yes", Q_CANCEL: "no", Q_APPOINTMENT: "no",
                Q_IDENTITY: "yes", Q_COMPETITOR: "no"},
    ),
    ScriptedCall(
        id="urbanfit_gym_membership",
        phases=SUPPORT_PHASES,
        lines=[
            ("agent", "Introduction", "Hi there, UrbanFit member services, this is Luis. What can I do for you?"),
            ("customer", "Introduction", "Hey Luis, I'm Grace Kim, member number five five zero three."),
            ("customer", "Complaint", "I froze my membership in January because of a knee injury, but you've "
                                      "kept charging me forty dollars every month."),
            ("customer", "Complaint", "That's three months of fees I shouldn't have paid. If this doesn't get "
                                      "sorted, I'm cancelling and joining the gym down the road."),
            ("agent", "Complaint", "Let me look. You're right, the freeze was recorded but billing wasn't "
                                   "updated. My apologies for that."),
            ("agent", "Resolution", "I'll refund the three payments, one hundred and twenty dollars, to your "
                                    "card by the end of the week."),
            ("agent", "Resolution", "And I'll extend the freeze until the first of May at no charge."),
            ("customer", "Resolution", "Okay, thank you. I'll send you the note from my physio so it's on file."),
            ("agent", "Resolution", "Perfect, just reply to the confirmation email with it."),
            ("customer", "Resolution", "Great, then I'll keep my membership."),
            ("agent", "Goodbye", "Glad to hear it. Feel better soon, Grace."),
            ("customer", "Goodbye", "Thanks, bye."),
        ],
        commitments=[
            {"owner": "agent", "item": "refund the three payments of one hundred and twenty dollars to the card",
             "due": "by the end of the week"},
            {"owner": "agent", "item": "extend the membership freeze", "due": "until the first of May"},
            {"owner": "customer", "item": "send the note from the physio", "due": None},
        ],
        checks={Q_SUPERVISOR: "no", Q_REFUND: "yes", Q_APOLOGY: "yes", Q_CANCEL: "yes", Q_RETAINED: "yes",
                Q_APPOINTMENT: "no", Q_COMPETITOR: "yes"},
    ),
    ScriptedCall(
        id="northstar_crm_sales_demo",
        phases=SALES_PHASES,
        lines=[
            ("agent", "Opening", "Hi Mr. Alvarez, this is Nina from Northstar CRM. Is now still a good time for our "
                                 "call?"),
            ("customer", "Opening", "Yes, I have about twenty minutes."),
            ("agent", "Discovery", "Great. How does your sales team keep track of leads at the moment?"),
            ("customer", "Discovery", "Mostly spreadsheets. We have eight reps and things fall through the cracks, "
                                      "especially follow-ups."),
            ("agent", "Discovery", "How many new leads do you get in a typical month?"),
            ("customer", "Discovery", "Around three hundred, mostly from the website."),
            ("agent", "Pitch", "Northstar would pull those web leads in automatically and remind each rep when a "
                               "follow-up is due."),
            ("agent", "Pitch", "Teams your size usually see response times drop by half in the first month."),
            ("customer", "Objections", "It sounds good, but the price worries me. Fieldline quoted us quite a bit "
                                       "less."),
            ("customer", "Objections", "And I don't want my reps spending weeks learning a new tool."),
            ("agent", "Objections", "Understood. Onboarding is included, and most teams are up and running in two "
                                    "days."),
            ("agent", "Close", "How about a free thirty day trial for your whole team? I can set it up today."),
            ("customer", "Close", "Okay, let's try it."),
            ("agent", "Close", "Great. I'll send the trial invitation this afternoon and book an onboarding call "
                               "for next Monday at ten."),
            ("customer", "Close", "Sounds good. I'll share the lead spreadsheet with you before then."),
        ],
        commitments=[
            {"owner": "agent", "item": "send the trial invitation", "due": "this afternoon"},
            {"owner": "agent", "item": "book an onboarding call", "due": "next Monday at ten"},
            {"owner": "customer", "item": "share the lead spreadsheet", "due": "before then"},
        ],
        checks={Q_NEXT_STEP: "yes", Q_COMPETITOR: "yes", Q_REFUND: "no", Q_SUPERVISOR: "no",
                Q_APPOINTMENT: "yes", Q_DISCOUNT: "no"},
    ),
    ScriptedCall(
        id="solaris_panels_sales_followup",
        phases=SALES_PHASES,
        labels="roles",
        lines=[
            ("agent", "Opening", "Good evening, this is Mark calling from Solaris Home Energy. You asked for a "
                                 "quote on our website last week?"),
            ("customer", "Opening", "Oh, yes, I did. Hi Mark."),
            ("agent", "Discovery", "Thanks for your interest. Roughly how much is your electricity bill each "
                                   "month?"),
            ("customer", "Discovery", "About one hundred and eighty dollars, more in the summer because of the air "
                                      "conditioning."),
            ("agent", "Discovery", "And does your roof face south?"),
            ("customer", "Discovery", "Mostly south-west, I think."),
            ("agent", "Pitch", "That's a good fit. A six kilowatt system would cover most of your usage and pay for "
                               "itself in about eight years."),
            ("customer", "Objections", "Eight years is a long time. I'm not sure we'll still live here by then."),
            ("agent", "Objections", "That's a fair point. Solar panels usually raise the resale value of a house, "
                                    "so you don't lose the investment."),
            ("customer", "Close", "I need to think about it and talk to my wife first."),
            ("agent", "Close", "Of course. Shall I call you back next week?"),
            ("customer", "Close", "Maybe. I'll email you if we decide to go ahead."),
            ("agent", "Close", "No problem. Thanks for your time, have a good evening."),
        ],
        commitments=[
            {"owner": "customer", "item": "email if they decide to go ahead", "due": None},
        ],
        checks={Q_NEXT_STEP: "no", Q_COMPETITOR: "no", Q_REFUND: "no", Q_SUPERVISOR: "no", Q_APPOINTMENT: "no",
                Q_DISCOUNT: "no"},
    ),
]


# Written after the engine was built and measured once, untouched by tuning (the row reports them apart):
# colloquial wording, other phrasings of commitments and of the yes/no categories.
FRESH_CALLS: list[ScriptedCall] = [
    ScriptedCall(
        id="fresh_clearview_tv_signal",
        phases=SUPPORT_PHASES,
        lines=[
            ("agent", "Introduction", "Clearview TV, Natalie here, what can I do for you this evening?"),
            ("customer", "Introduction", "Yeah hi, it's Gareth Hughes, account ending four one one."),
            ("agent", "Introduction", "Thanks Gareth, and just to check, what's your postcode?"),
            ("customer", "Introduction", "C F ten, two B B."),
            ("customer", "Complaint", "Half my channels have gone blank since the storm on Sunday, it just says "
                                      "no signal."),
            ("customer", "Complaint", "I pay for the premium package and I can't even watch the football."),
            ("agent", "Complaint", "That's rubbish, sorry. I can see your box hasn't checked in since Sunday night."),
            ("agent", "Resolution", "I'm gonna reset the box from here, give it five minutes."),
            ("customer", "Resolution", "Okay."),
            ("agent", "Resolution", "If that doesn't sort it, we'll have an engineer out to look at the dish on "
                                    "Saturday."),
            ("customer", "Resolution", "Saturday's fine, I'm in all day."),
            ("agent", "Resolution", "Lovely, that's booked, and you'll get a text confirming the time slot "
                                    "tomorrow."),
            ("agent", "Resolution", "I'll also knock this month's premium charge off your bill."),
            ("agent", "Goodbye", "Anything else I can help with?"),
            ("customer", "Goodbye", "No, that's great, cheers Natalie."),
        ],
        commitments=[
            {"owner": "agent", "item": "reset the box", "due": None},
            {"owner": "agent", "item": "send an engineer to look at the dish", "due": "on Saturday"},
            {"owner": "agent", "item": "send a text confirming the time slot", "due": "tomorrow"},
            {"owner": "agent", "item": "take this month's premium charge off the bill", "due": None},
        ],
        checks={Q_SUPERVISOR: "no", Q_REFUND: "no", Q_APOLOGY: "yes", Q_APPOINTMENT: "yes", Q_IDENTITY: "yes",
                Q_DISCOUNT: "yes", Q_CANCEL: "no"},
    ),
    ScriptedCall(
        id="fresh_parcelpoint_lost_delivery",
        phases=SUPPORT_PHASES,
        labels="roles",
        lines=[
            ("agent", "Introduction", "Hello, ParcelPoint customer support, you're through to Kemal."),
            ("customer", "Introduction", "Hi, I'm phoning about a parcel that never turned up. The tracking number "
                                         "is P P nine eight seven."),
            ("agent", "Introduction", "Let me pull that up. Can I take the name on the order?"),
            ("customer", "Introduction", "Sofia Marin."),
            ("customer", "Complaint", "It says delivered on Tuesday but there was nothing at my door, and it was a "
                                      "birthday present."),
            ("customer", "Complaint", "Honestly I've had enough, can I talk to someone senior about this?"),
            ("agent", "Complaint", "I completely get it and I apologise. The driver's photo shows a different front "
                                   "door."),
            ("agent", "Resolution", "So here's what happens next: I'm opening a lost parcel claim right now."),
            ("agent", "Resolution", "You'll have your money back on your card within three working days."),
            ("customer", "Resolution", "And the seller? Should I tell them?"),
            ("agent", "Resolution", "Could you forward us the seller's order confirmation?"),
            ("customer", "Resolution", "Yes, I'll forward it tonight."),
            ("agent", "Resolution", "Perfect. I'll also pass the photo to the depot manager so it doesn't happen "
                                    "again."),
            ("agent", "Goodbye", "Is there anything more I can do today?"),
            ("customer", "Goodbye", "No, thanks for your help. Bye."),
        ],
        commitments=[
            {"owner": "agent", "item": "open a lost parcel claim", "due": "right now"},
            {"owner": "agent", "item": "refund the money to the card", "due": "within three working days"},
            {"owner": "customer", "item": "forward the seller's order confirmation", "due": "tonight"},
            {"owner": "agent", "item": "pass the photo to the depot manager", "due": None},
        ],
        checks={Q_SUPERVISOR: "yes", Q_REFUND: "yes", Q_APOLOGY: "yes", Q_APPOINTMENT: "no", Q_IDENTITY: "yes",
                Q_CANCEL: "no", Q_COMPETITOR: "no"},
    ),
    ScriptedCall(
        id="fresh_novabank_account_closure",
        phases=SUPPORT_PHASES,
        lines=[
            ("agent", "Introduction", "Good morning, NovaBank, my name's Ruth. Who am I speaking to?"),
            ("customer", "Introduction", "Morning, Daniel Osei. I want to close my current account."),
            ("agent", "Introduction", "Okay Daniel, can you confirm your date of birth first?"),
            ("customer", "Introduction", "Fourteenth of August, ninety-one."),
            ("customer", "Complaint", "You started charging a monthly fee of eight pounds without telling me, and "
                                      "Monzo doesn't charge anything."),
            ("agent", "Complaint", "I see that fee was introduced in March. I can tell you're not happy about it."),
            ("agent", "Resolution", "What I can do is move you to our basic account, which has no monthly fee at "
                                    "all."),
            ("customer", "Resolution", "Hmm. No, I've made up my mind, please go ahead and close it."),
            ("agent", "Resolution", "Understood. I've closed the account, and the remaining balance will be "
                                    "transferred to your other bank by Thursday."),
            ("agent", "Resolution", "We'll post you a final statement next week."),
            ("customer", "Resolution", "Fine, I'll cut up the card today."),
            ("agent", "Goodbye", "Thanks for banking with us, Daniel. Goodbye."),
            ("customer", "Goodbye", "Bye."),
        ],
        commitments=[
            {"owner": "agent", "item": "transfer the remaining balance to the other bank", "due": "by Thursday"},
            {"owner": "agent", "item": "post a final statement", "due": "next week"},
            {"owner": "customer", "item": "cut up the card", "due": "today"},
        ],
        checks={Q_SUPERVISOR: "no", Q_REFUND: "no", Q_APOLOGY: "no", Q_CANCEL: "yes", Q_RETAINED: "no",
                Q_IDENTITY: "yes", Q_COMPETITOR: "yes", Q_DISCOUNT: "no"},
    ),
    ScriptedCall(
        id="fresh_brightpath_tutoring_sales",
        phases=SALES_PHASES,
        labels="roles",
        lines=[
            ("agent", "Opening", "Hi, is that Mrs. Chen? It's Leo from BrightPath Tutoring, you filled in our form "
                                 "yesterday."),
            ("customer", "Opening", "Oh yes, hello."),
            ("agent", "Discovery", "Which subjects is your son finding hard at the moment?"),
            ("customer", "Discovery", "Maths mostly. He's got exams in June and his grades have dropped this term."),
            ("agent", "Discovery", "And how many evenings a week could he do?"),
            ("customer", "Discovery", "Probably two."),
            ("agent", "Pitch", "Our tutors are all qualified teachers, and with two sessions a week most students "
                               "go up a grade by the summer."),
            ("customer", "Objections", "It's quite a lot of money though, and a friend uses Tutorly which is "
                                       "cheaper."),
            ("agent", "Objections", "I understand. We do a ten percent discount if you book a full term."),
            ("agent", "Close", "Why don't we start with a free trial lesson this Thursday at six?"),
            ("customer", "Close", "Alright, let's do that."),
            ("agent", "Close", "Great, I'll email you the tutor's details tonight."),
            ("customer", "Close", "Thanks. I'll make sure he's ready with his homework."),
        ],
        commitments=[
            {"owner": "agent", "item": "email the tutor's details", "due": "tonight"},
            {"owner": "customer", "item": "make sure he's ready with his homework", "due": None},
        ],
        checks={Q_NEXT_STEP: "yes", Q_COMPETITOR: "yes", Q_DISCOUNT: "yes", Q_APPOINTMENT: "yes",
                Q_REFUND: "no", Q_SUPERVISOR: "no"},
    ),
]
