"""Call analytics Lambda code: handlers -> logic -> adapters (see docs/architecture.md)."""
