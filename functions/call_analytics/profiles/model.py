"""The analysis profile: what to ask AssemblyAI for and which analyses to run (format in docs/data-model.md)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from call_analytics.errors import InvalidProfile
from call_analytics.profiles.categories import Category, questions_of, roles_of, uses_sentiment

PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
ANALYSIS_NAMES = ("phases", "sentiment", "action_items")
OTHER_PHASE = "Other"
PII_SUBSTITUTIONS = ("hash", "entity_name")
#: the LLM Gateway chains at most two fallbacks (`fallback_config.depth` <= 2)
MAX_FALLBACK_MODELS = 2


def _check_fallback_models(models: list[str]) -> list[str]:
    cleaned = [m.strip() for m in models]
    if len(cleaned) > MAX_FALLBACK_MODELS:
        raise ValueError(f"at most {MAX_FALLBACK_MODELS} fallback models (the LLM Gateway chains at most "
                         f"{MAX_FALLBACK_MODELS}: fallback_config.depth), got {len(cleaned)}: {cleaned}")
    if any(not m for m in cleaned):
        raise ValueError("fallback model names must not be empty")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError(f"fallback models must be unique: {cleaned}")
    return cleaned


#: `llm.fallback_models` and an analysis' own `fallback_models`: the same rules for both
FallbackModels = Annotated[list[str], AfterValidator(_check_fallback_models)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Transcription(_Strict):
    speech_models: list[str] = Field(default_factory=lambda: ["universal-3-pro", "universal-2"], min_length=1)
    speaker_labels: bool = True
    speakers_expected: int | None = Field(None, ge=1, le=10)
    multichannel: Literal["auto"] | bool = "auto"
    channel_names: dict[str, str] = Field(default_factory=dict)
    language_code: str | None = None
    language_detection: bool = False
    language_confidence_threshold: float | None = Field(None, ge=0, le=1)
    expected_languages: list[str] = Field(default_factory=list)
    keyterms_prompt: list[str] = Field(default_factory=list, max_length=1000)
    punctuate: bool = True
    format_text: bool = True
    redact_pii: bool = False
    redact_pii_policies: list[str] = Field(default_factory=list)
    redact_pii_sub: Literal["hash", "entity_name"] | None = None
    redact_pii_audio: bool = False
    #: AssemblyAI's per-sentence sentiment (`sentiment_analysis_results`): conversation metrics per role and quarter
    sentiment_analysis: bool = False

    @field_validator("keyterms_prompt")
    @classmethod
    def _short_terms(cls, terms: list[str]) -> list[str]:
        too_long = [t for t in terms if len(t.split()) > 6]
        if too_long:
            raise ValueError(f"key terms must have at most 6 words each: {too_long[:3]}")
        return terms

    @model_validator(mode="after")
    def _consistent(self) -> Transcription:
        if self.language_code and self.language_detection:
            raise ValueError("set either language_code or language_detection, not both")
        if self.redact_pii and not self.redact_pii_policies:
            raise ValueError("redact_pii needs at least one entry in redact_pii_policies")
        if self.expected_languages and not self.language_detection:
            raise ValueError("expected_languages needs language_detection: true")
        return self


ROLE_NAME = re.compile(r"^[a-z][a-z_-]{0,31}$")
AGENT, CUSTOMER = "agent", "customer"


class Roles(_Strict):
    """Who is who (docs/data-model.md "Speaker roles"). Stereo: `channels` (default: channel 1 the first role,
    channel 2 the second). Mono: AssemblyAI's speaker identification by role (`speaker_identification`), or the
    `heuristic` (greeting and self-introduction cues, else `first_speaker` speaks first). An upload's metadata
    `speaker-roles` (`A=customer,B=agent` or `1=agent,2=customer`) overrides both."""

    names: list[str] = Field(default_factory=lambda: [AGENT, CUSTOMER], min_length=1, max_length=10)
    channels: dict[str, str] = Field(default_factory=dict)
    mono: Literal["heuristic", "speaker_identification"] = "heuristic"
    first_speaker: str = AGENT

    @field_validator("names")
    @classmethod
    def _plain_names(cls, names: list[str]) -> list[str]:
        bad = [n for n in names if not ROLE_NAME.match(n)]
        if bad:
            raise ValueError(f"role names are lower-case words (letters, '_' or '-'): {bad}")
        if len(set(names)) != len(names):
            raise ValueError(f"role names must be unique: {names}")
        return names

    @model_validator(mode="after")
    def _known_roles(self) -> Roles:
        unknown = sorted({r for r in [*self.channels.values(), self.first_speaker] if r not in self.names})
        if unknown:
            raise ValueError(f"roles {unknown} are not in roles.names {self.names}")
        bad_channels = [c for c in self.channels if not c.isdigit()]
        if bad_channels:
            raise ValueError(f"roles.channels keys are channel numbers (\"1\", \"2\"): {bad_channels}")
        return self


class MetricsOptions(_Strict):
    """Thresholds of the conversation metrics (conversation/metrics.py)."""

    #: mono: a turn that starts less than this after the other speaker stopped counts as an interruption
    interruption_gap_seconds: float = Field(0.2, ge=0, le=5)
    #: multichannel: overlapping speech shorter than this is backchannel noise, not an interruption
    min_overlap_seconds: float = Field(0.3, ge=0, le=10)
    #: silences at least this long are listed (`non_talk.long_silences`)
    long_silence_seconds: float = Field(5.0, gt=0, le=600)


class AnalysisBase(_Strict):
    enabled: bool = True
    model: str | None = None  # default: llm.model
    max_tokens: int = Field(1000, ge=1, le=64000)
    fallback_models: FallbackModels | None = None  # default: llm.fallback_models; [] = none for this analysis


class PhasesAnalysis(AnalysisBase):
    phases: list[str] = Field(min_length=1)
    max_tokens: int = Field(2000, ge=1, le=64000)
    gap_tolerance_seconds: float = Field(2.0, ge=0)

    @field_validator("phases")
    @classmethod
    def _unique_names(cls, phases: list[str]) -> list[str]:
        cleaned = [p.strip() for p in phases]
        if any(not p for p in cleaned):
            raise ValueError("phase names must not be empty")
        lowered = [p.lower() for p in cleaned]
        if len(set(lowered)) != len(lowered):
            raise ValueError("phase names must be unique")
        if OTHER_PHASE.lower() in lowered:
            raise ValueError(f'"{OTHER_PHASE}" is added automatically; do not list it')
        return cleaned


class Question(_Strict):
    question: str = Field(min_length=1)
    context: str | None = None
    answer_format: str | None = None


class SentimentAnalysis(AnalysisBase):
    questions: list[Question] = Field(min_length=1)
    answer_format: str | None = None  # default for questions without their own
    max_tokens: int = Field(2000, ge=1, le=64000)

    @field_validator("questions")
    @classmethod
    def _unique_questions(cls, questions: list[Question]) -> list[Question]:
        texts = [q.question.strip().lower() for q in questions]
        if len(set(texts)) != len(texts):
            raise ValueError("questions must be unique")
        return questions


class ActionItemsAnalysis(AnalysisBase):
    guidelines: list[str] = Field(min_length=1)
    answer_format: str | None = None


class Analyses(_Strict):
    phases: PhasesAnalysis | None = None
    sentiment: SentimentAnalysis | None = None
    action_items: ActionItemsAnalysis | None = None


class LlmOptions(_Strict):
    model: str = Field(min_length=1)
    fallback_models: FallbackModels = Field(default_factory=list)
    temperature: float | None = Field(0.0, ge=0, le=2)
    transcript_format: Literal["vtt", "compact"] = "compact"
    #: "lean": each instruction once and briefly; "seeds": the AssemblyAI tutorials' own wording (profile `seeds`)
    prompt_style: Literal["lean", "seeds"] = "lean"
    mode: Literal["separate", "combined"] = "separate"
    combined_max_tokens: int = Field(4000, ge=1, le=64000)
    repair_attempts: int = Field(1, ge=0, le=3)


class Profile(_Strict):
    name: str
    description: str = ""
    transcription: Transcription = Field(default_factory=Transcription)
    llm: LlmOptions
    analyses: Analyses
    min_words_for_analysis: int = Field(1, ge=1)
    roles: Roles = Field(default_factory=Roles)
    metrics: MetricsOptions = Field(default_factory=MetricsOptions)
    categories: list[Category] = Field(default_factory=list, max_length=100)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not PROFILE_NAME.match(name):
            raise ValueError("profile name: letters, digits, '.', '_' or '-', at most 64 characters")
        return name

    @model_validator(mode="after")
    def _categories_fit(self) -> Profile:
        names = [c.name for c in self.categories]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"category names must be unique: {duplicates}")
        for category in self.categories:
            unknown = sorted(roles_of([category]) - set(self.roles.names))
            if unknown:
                raise ValueError(f"category {category.name!r} uses roles {unknown} not in roles.names "
                                 f"{self.roles.names}")
            if uses_sentiment(category) and not self.transcription.sentiment_analysis:
                raise ValueError(f"category {category.name!r} has a sentiment rule: it needs "
                                 "transcription.sentiment_analysis: true")
            if questions_of([category]) and self.check_carrier() is None:
                raise ValueError(f"category {category.name!r} asks the LLM a question: it needs llm.mode "
                                 "\"combined\" or the sentiment analysis enabled (the question rides in that request)")
        if self.roles.mono == "speaker_identification" and not self.transcription.speaker_labels:
            raise ValueError("roles.mono speaker_identification needs transcription.speaker_labels: true")
        return self

    def check_questions(self) -> list[str]:
        """The categories' yes/no questions (answered under `checks` in the carrying request)."""
        return questions_of(self.categories)

    def check_carrier(self) -> str | None:
        """The Map item whose request carries the categories' questions: `combined`, else `sentiment`."""
        enabled = self.enabled_analyses()
        if self.llm.mode == "combined" and enabled:
            return "combined"
        return "sentiment" if "sentiment" in enabled else None

    def enabled_analyses(self) -> list[str]:
        return [n for n in ANALYSIS_NAMES if (a := getattr(self.analyses, n)) is not None and a.enabled]

    def analysis(self, name: str) -> PhasesAnalysis | SentimentAnalysis | ActionItemsAnalysis:
        config = getattr(self.analyses, name, None) if name in ANALYSIS_NAMES else None
        if config is None or not config.enabled:
            raise InvalidProfile(f"profile {self.name!r} has no enabled analysis {name!r}")
        return config

    def phase_names(self) -> list[str]:
        return [*self.analysis("phases").phases, OTHER_PHASE]


def parse_profile(data: Any, *, source: str) -> Profile:
    """Validate a profile; InvalidProfile lists every problem with its location."""
    if not isinstance(data, dict):
        raise InvalidProfile(f"profile {source}: expected a JSON object, got {type(data).__name__}")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors())
        raise InvalidProfile(f"profile {source} is invalid: {problems}") from None
    return profile
