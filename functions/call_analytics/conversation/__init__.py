"""Who spoke, how, and what it means: speaker roles, conversation metrics and rule-based categories (no LLM)."""
