"""LLM analyses (plain Python, no AWS): request building, tolerant parsing, validation, repair."""
