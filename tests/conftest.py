"""Shared fixtures: sample events, the local PagerDuty and Slack stand-ins, moto's Secrets Manager."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from alertlib.deliver import Deliverer, Destination
from alertlib.forward import Forwarder
from alertlib.models import Severity
from alertlib.settings import Route, Settings
from tools.standins import StandIn

# Under CI the generated examples are derandomized: the same inputs every run, so a red run is a regression and
# never a new example drawn that day. Locally (`make test`) and in `make fuzz` (10,000 examples, shrinking) they are
# drawn afresh, which is where new inputs are explored; a failure found there becomes an explicit example or a
# corpus entry.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

EVENTS = Path(__file__).parent / "events"
NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
ROUTING_KEY = "0123456789abcdef0123456789abcdef"
PAGERDUTY_SECRET = "alerting/test/pagerduty"
SLACK_SECRET = "alerting/test/slack"

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AlertForwardingTests")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def sns_event(*messages: Any, topic: str = "arn:aws:sns:us-east-1:123456789012:prod-critical") -> dict[str, Any]:
    """A Lambda SNS event with one record per message (dicts are JSON-encoded, strings sent as they are)."""
    records = []
    for index, message in enumerate(messages):
        body = message if isinstance(message, str) else json.dumps(message)
        records.append(
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic}:sub",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": f"00000000-0000-0000-0000-{index:012d}",
                    "TopicArn": topic,
                    "Subject": "ALARM",
                    "Message": body,
                    "Timestamp": "2026-11-22T03:00:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "EXAMPLE",
                    "UnsubscribeUrl": "EXAMPLE",
                    "MessageAttributes": {},
                },
            }
        )
    return {"Records": records}


@dataclass
class FakeContext:
    """What Lambda hands a handler: enough for Powertools and for the deadline."""

    remaining_ms: int = 30_000
    function_name: str = "forwarder"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:forwarder"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


@pytest.fixture
def pagerduty() -> Iterator[StandIn]:
    with StandIn("pagerduty") as server:
        yield server


@pytest.fixture
def slack() -> Iterator[StandIn]:
    with StandIn("slack") as server:
        yield server


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Secrets Manager, with Powertools' parameter cache emptied before and after."""
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()
    with mock_aws():
        import boto3

        yield boto3.client("secretsmanager", region_name="us-east-1")
    parameters.clear_caches()
    parameters.base.DEFAULT_PROVIDERS.clear()


@pytest.fixture
def secrets(aws: Any, slack: StandIn) -> Any:
    aws.create_secret(Name=PAGERDUTY_SECRET, SecretString=ROUTING_KEY)
    aws.create_secret(Name=SLACK_SECRET, SecretString=slack.url)
    return aws


def settings_for(secret: str, **overrides: Any) -> Settings:
    routes = {
        "prod-critical": Route(Severity.CRITICAL, (secret,)),
        "prod-warning": Route(Severity.WARNING, (secret,)),
        "default": Route(Severity.ERROR, (secret,)),
    }
    return Settings(**{"routes": routes, **overrides})


@pytest.fixture
def make_forwarder(pagerduty: StandIn) -> Callable[..., Forwarder]:
    def build(destination: Destination, retries: int = 3, **overrides: Any) -> Forwarder:
        secret = PAGERDUTY_SECRET if destination is Destination.PAGERDUTY else SLACK_SECRET
        settings = settings_for(secret, pagerduty_url=pagerduty.url, **overrides)
        deliverer = Deliverer(
            pagerduty_url=pagerduty.url,
            connect_timeout=1.0,
            read_timeout=overrides.get("read_timeout", 2.0),
            retries=retries,
            backoff_factor=0.01,
        )
        return Forwarder(destination=destination, settings=settings, deliverer=deliverer)

    return build
