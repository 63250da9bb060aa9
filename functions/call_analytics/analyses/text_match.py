"""Is a quote in the transcript? Compared after normalising case, punctuation, quotes and whitespace."""

from __future__ import annotations

import re
import unicodedata

_ELLIPSIS = re.compile(r"\.{3,}|…")
_SPEAKER_PREFIX = re.compile(r"^\s*[\w ]{1,20}:\s+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"(?<=\w)'(?=\w)", "", text)  # don't -> dont, so "don't" == "dont"
    text = re.sub(r"[^\w\s]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def quote_in_text(quote: str, normalised_text: str) -> bool:
    """All fragments of the quote (split at ellipses) appear in order; an optional `Speaker:` prefix is ignored."""
    candidates = [quote]
    if _SPEAKER_PREFIX.match(quote or ""):
        candidates.append(_SPEAKER_PREFIX.sub("", quote, count=1))
    return any(_fragments_in_order(c, normalised_text) for c in candidates)


def _fragments_in_order(quote: str, normalised_text: str) -> bool:
    fragments = [normalise(f) for f in _ELLIPSIS.split(quote or "")]
    fragments = [f for f in fragments if f]
    if not fragments:
        return False
    haystack = f" {normalised_text} "
    position = 0
    for fragment in fragments:
        found = haystack.find(f" {fragment} ", position)
        if found < 0:
            return False
        position = found + len(fragment) + 1
    return True
