"""Lambda entry points: `call_analytics.handlers.<name>.handler`."""
