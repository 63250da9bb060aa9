"""Use cases, one module per handler. Plain functions; adapters are passed in (see wiring.py)."""
