"""Text normalisation for WER (numbers to words, punctuation stripped), as in the research notes."""

from __future__ import annotations

import re

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _num(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + _num(n % 100))
    return _num(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + _num(n % 1000))


def _digits(m: re.Match) -> str:
    s = m.group(0)
    if len(s) >= 4 and not (len(s) == 4 and s.startswith(("19", "20"))):
        return " ".join(_ONES[int(c)] for c in s)  # account numbers are read digit by digit
    if len(s) == 4:
        return _num(int(s[:2])) + " " + _num(int(s[2:]))  # years: "2019" -> "twenty nineteen"
    return _num(int(s))


def normalize(text: str) -> str:
    t = text.lower()
    t = re.sub(r"\$(\d+)(?:\.00)?", lambda m: m.group(1) + " dollars", t)
    t = re.sub(r"(\d+)%", r"\1 percent", t)
    t = re.sub(r"(\d),(\d{3})", r"\1\2", t)
    t = re.sub(r"(?<=\d)[- ](?=\d\b)", "", t)
    t = re.sub(r"\d+", _digits, t)
    t = t.replace("-", " ")
    t = re.sub(r"[^a-z' ]+", " ", t)
    t = re.sub(r"\bok\b", "okay", t)
    t = re.sub(r"\bgood bye\b", "goodbye", t)
    t = re.sub(r"\bnorth wind\b", "northwind", t)
    t = re.sub(r"(\w)'(\w)", r"\1'\2", t).replace(" '", " ").replace("' ", " ")
    return re.sub(r"\s+", " ", t).strip()
