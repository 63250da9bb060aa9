"""Analysis profiles: the bundled JSON files here plus overrides in S3 (see loader.py)."""

from call_analytics.profiles.model import Profile, parse_profile

__all__ = ["Profile", "parse_profile"]
