"""The boundary of a function-URL handler (the Alertmanager endpoint, Slack interactivity, PagerDuty webhooks).

Each such handler is the same few lines around its endpoint: build it on the first request (and again after a
build failed, so a fixed setting is picked up without a cold start), answer the request, count one metric per
outcome, write one log line. Any failure at the boundary is a 500 with no detail (the sender retries; neither a
stack trace nor a setting's name reaches it), the `EndpointFailed` metric and one error line: a `ForwardingError`
(a missing setting, an unreadable secret, a table or queue that failed) says what failed; anything else is logged
with its traceback.

    endpoint: SlackInteractions | None = None  # built on first use; tests set it
    handler = function_url_handler(lazily(globals(), "endpoint", build), failed="slack interactions failed")
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools.metrics import MetricUnit

from alertlib.errors import ConfigurationError, ForwardingError
from alertlib.observability import logger, metrics, traced
from alertlib.text import one_line

ENDPOINT_FAILED = "EndpointFailed"
INTERNAL_BODY = '{"error": "internal"}'

T = TypeVar("T")


class Answer(Protocol):
    """What an endpoint answers: its status, the metric of its outcome, a reason for the log line only."""

    @property
    def status(self) -> int: ...

    @property
    def outcome(self) -> str: ...

    @property
    def reason(self) -> str | None: ...

    def as_lambda(self) -> dict[str, Any]: ...


class Endpoint(Protocol):
    def handle(self, event: dict[str, Any]) -> Answer: ...


def required_env(name: str) -> str:
    """An environment variable the endpoint cannot work without; a `ConfigurationError` naming it (in the log line
    only: the sender sees a 500 without detail)."""
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(f"{name} is not set")
    return value


def lazily(namespace: MutableMapping[str, Any], name: str, build: Callable[[], T]) -> Callable[[], T]:
    """`namespace[name]`, built by `build` when it is None (a handler module's `globals()`: the endpoint is a module
    global, built once per container, that tests may set or clear)."""

    def get() -> T:
        value = namespace.get(name)
        if value is None:
            value = namespace[name] = build()
        return value  # type: ignore[no-any-return]

    return get


def answer(event: dict[str, Any], endpoint: Callable[[], Endpoint], *, failed: str) -> dict[str, Any]:
    """The function URL's answer to `event`, with its metric and log line (see the module's docstring)."""
    try:
        response = endpoint().handle(event)
    except ForwardingError as exc:
        logger.error(failed, extra={"reason": one_line(str(exc))[:300]})
        return _internal()
    except Exception:  # noqa: BLE001 - the boundary: never a stack trace to the sender, always a log line
        logger.exception(failed)
        return _internal()
    metrics.add_metric(name=response.outcome or ENDPOINT_FAILED, unit=MetricUnit.Count, value=1)
    logger.info("answered", extra={"status": response.status, "reason": response.reason})
    return response.as_lambda()


def function_url_handler(
    endpoint: Callable[[], Endpoint], *, failed: str
) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler: `answer` inside the Powertools logger context (cleared per request), the metrics flush
    and the tracer (when on)."""

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @traced
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return answer(event, endpoint, failed=failed)

    return handler


def _internal() -> dict[str, Any]:
    metrics.add_metric(name=ENDPOINT_FAILED, unit=MetricUnit.Count, value=1)
    return {"statusCode": 500, "headers": {"Content-Type": "application/json"}, "body": INTERNAL_BODY}
