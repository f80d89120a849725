"""One observability module: Powertools Logger, Metrics and Tracer, and the per-invocation counters."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "AlertForwarding"
SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "alert-forwarder"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """X-Ray tracing only where the stack turned it on: importing the X-Ray SDK costs ~250 ms of cold start."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").strip().lower() in ("0", "false", "no")


def traced(handler: Handler) -> Handler:
    """Powertools' Tracer around a handler when tracing is on; the handler itself otherwise."""
    if not tracing_enabled():
        return handler
    from aws_lambda_powertools import Tracer

    tracer = Tracer(service=SERVICE)
    wrapped = tracer.capture_lambda_handler(handler, capture_response=False)
    return wrapped  # type: ignore[return-value]


# Metric names: one per outcome.
ALERTS_RECEIVED = "AlertsReceived"
ALERTS_DELIVERED = "AlertsDelivered"
ALERTS_IGNORED = "AlertsIgnored"
DELIVERY_RETRIED = "DeliveryRetried"
DELIVERY_FAILED = "DeliveryFailed"
PAYLOAD_REJECTED = "PayloadRejected"


class Counters:
    """Counts by (metric, source) during one invocation; flushed as one EMF document per source."""

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, name: str, source: str, value: int = 1) -> None:
        if value:
            self.counts[(name, source)] += value

    def flush(self) -> None:
        by_source: dict[str, list[tuple[str, int]]] = {}
        for (name, source), value in self.counts.items():
            by_source.setdefault(source, []).append((name, value))
        for source, values in by_source.items():
            metrics.add_dimension(name="source", value=source)
            metrics.add_dimension(name="destination", value=self.destination)
            for name, value in values:
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
            metrics.flush_metrics()
            metrics.clear_metrics()  # also when POWERTOOLS_METRICS_DISABLED kept flush from clearing them
        self.counts.clear()
