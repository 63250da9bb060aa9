"""Lambda entry points: `call_analytics.handlers.<name>.handler`."""

from call_analytics.observability import logger
from call_analytics.redaction import install_log_redaction

# before any handler logs: no line may carry the API key or an auth value (call_analytics/redaction.py)
install_log_redaction(logger)
