"""One list of accepted file types: infra/names.py (the stack output callctl checks) and the Lambda's copy in
functions/call_analytics/recordings.py (start_call's check) must be the same set, all lower-case."""

from __future__ import annotations

from call_analytics.recordings import AUDIO_EXTENSIONS, is_supported_suffix

from infra.names import AUDIO_SUFFIXES


def test_infra_and_start_call_accept_the_same_file_types():
    assert set(AUDIO_SUFFIXES) == set(AUDIO_EXTENSIONS)
    assert len(AUDIO_SUFFIXES) == len(set(AUDIO_SUFFIXES))
    assert all(s == s.lower() and s.startswith(".") for s in AUDIO_SUFFIXES)


def test_any_case_of_an_accepted_type_is_accepted():
    for key in ("recordings/a.Mp3", "recordings/b.WAV", "recordings/c.Wav", "recordings/d.aiff", "recordings/e.AIF"):
        assert is_supported_suffix(key), key
    assert not is_supported_suffix("recordings/notes.txt") and not is_supported_suffix("recordings/noext")
