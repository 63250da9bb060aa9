"""Powertools singletons shared by every module (service name and namespace come from POWERTOOLS_* env vars).

`tracer` is Powertools' Tracer, built at its first use instead of at import: building it imports the X-Ray SDK
(and, with tracing on, patches botocore/requests/httplib), which alone took several times the rest of a handler's
cold import. `@tracer.capture_lambda_handler` builds it when the handler is first invoked, before the handler's
body runs (so every client the invocation creates, and every call it makes, is patched and traced as before);
any other attribute (`put_annotation`, `provider`, `capture_method`, ...) builds it on access.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics, MetricUnit

if TYPE_CHECKING:
    from aws_lambda_powertools.tracing import Tracer

__all__ = ["logger", "tracer", "metrics", "MetricUnit", "bind_call"]


class LazyTracer:
    """Powertools' `Tracer(**options)`, constructed once, at first use (thread-safe)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._tracer: Tracer | None = None
        self._lock = threading.Lock()

    @property
    def built(self) -> bool:
        """Whether the real Tracer exists yet (the X-Ray SDK is imported)."""
        return self._tracer is not None

    def real(self) -> Tracer:
        """The Powertools Tracer (built now if needed)."""
        if self._tracer is None:
            with self._lock:
                if self._tracer is None:
                    from aws_lambda_powertools.tracing import Tracer

                    self._tracer = Tracer(**self._options)
        return self._tracer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not delegated: this object's own state (also during copy/pickle probes)
            raise AttributeError(name)
        return getattr(self.real(), name)

    def capture_lambda_handler(self, lambda_handler: Any = None, capture_response: bool | None = None,
                               capture_error: bool | None = None) -> Any:
        """Powertools' capture_lambda_handler, applied when the handler is first invoked."""
        if lambda_handler is None:
            return functools.partial(self.capture_lambda_handler, capture_response=capture_response,
                                     capture_error=capture_error)
        traced: Any = None

        @functools.wraps(lambda_handler)
        def decorate(event: Any, context: Any, **kwargs: Any) -> Any:
            nonlocal traced
            if traced is None:
                traced = self.real().capture_lambda_handler(lambda_handler, capture_response=capture_response,
                                                            capture_error=capture_error)
            return traced(event, context, **kwargs)

        return decorate


logger = Logger()
tracer = LazyTracer()
metrics = Metrics()


def bind_call(call_id: str | None) -> None:
    """Make call_id the correlation id of every log line that follows."""
    if call_id:
        logger.set_correlation_id(call_id)
        logger.append_keys(call_id=call_id)
