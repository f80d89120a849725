"""Fuzzing that reaches the edges: generated payloads of every shape through parse, normalise, redact and render.

Every payload is rendered or refused with `MalformedInput` (no other exception); every output holds every PagerDuty
and Slack limit (`tools.standins`, the checkers the stand-ins answer with), no link can show one target and open
another, nothing pings in Slack and no planted e-mail address survives (`assert_sendable`); and each payload goes
through every stage within a time budget (`budget_for`: 2 s per 256 KB), so a slow path fails the run like a crash
does. The strategies (`tests/unit/strategies.py`) reach 300-alert groups, 200 KB strings, 1,000 labels, JSON nested
1,000 deep, numbers of 5,000 digits, and the hostile characters.

Alertmanager bodies also go through the endpoint: refused with a reason, or split into parts that each fit SNS and
each render within every limit.

`make fuzz` runs 10,000 examples and shrinks a failure to a minimal example (`FUZZ_EXAMPLES=10000 FUZZ_SHRINK=1`);
the default suite runs 150 and reports the first failure as found.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from alertlib.endpoint import MAX_BODY_BYTES, SNS_LIMIT, check_alertmanager_body, decode_body, sns_bytes, split_body
from alertlib.errors import MalformedInput
from alertlib.models import Source
from alertlib.parse import AlertmanagerMessage, parse_payload
from tests.conftest import sns_event
from tests.unit.helpers import Rendered, alarm, alertmanager, assert_sendable, budget_for, render_all
from tests.unit.strategies import PAYLOAD, alertmanager_group, to_json

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SHRINK = os.environ.get("FUZZ_SHRINK", "0") == "1"
COUNTS: Counter[str] = Counter()
SLOWEST: dict[str, float] = {"seconds": 0.0, "bytes": 0}


def _plain_alerts(count: int) -> dict[str, Any]:
    body = alertmanager(count)
    for alert in body["alerts"]:
        alert["annotations"] = {"summary": "s"}
    return body


def _event(payload: Any, wrap: str) -> tuple[Any, int] | None:
    """The Lambda event carrying the payload, and the payload's size; None when Lambda could not have made it."""
    text = to_json(payload)
    size = len(text.encode("utf-8", "surrogatepass"))
    if wrap == "sns":
        return sns_event(text), size
    try:  # invoked without SNS (EventBridge, CloudWatch's Lambda action): Lambda's runtime decodes the JSON itself
        return json.loads(text), size
    except (RecursionError, ValueError):
        return None


@settings(
    max_examples=EXAMPLES,
    # Hypothesis' deadline is not used: it times the whole example (the checks as well), and a first slow run
    # that is quicker when replayed is reported as flaky rather than slow. The budget is measured in render_all
    # around the stages alone, and fails the example the same way every time it is that slow.
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    # Shrinking re-runs 200 KB payloads hundreds of times (up to 5 minutes): `make fuzz` shrinks a failure to a
    # minimal example, the default suite reports the first failing one at once.
    phases=list(Phase) if SHRINK else [Phase.explicit, Phase.reuse, Phase.generate],
)
@given(payload=PAYLOAD, wrap=st.sampled_from(["sns", "bare"]))
@example(payload=_plain_alerts(1500), wrap="sns")  # a stage quadratic in the number of alerts
@example(payload=alertmanager(1, groupLabels={"alertname": "🔥" * 60_000}), wrap="sns")  # 240 KB of emoji
@example(payload=alarm(description="%41a" * 60_000 + " @"), wrap="sns")  # quadratic redaction, 240 KB
@example(payload=alertmanager(1, truncatedAlerts="9" * 4300), wrap="sns")
@example(payload=alertmanager(1, externalURL="https://am.example/" + "a" * 300_000), wrap="bare")
@example(payload=alarm(tags={"runbook": "https://evil.example/login|https://wiki.corp.example/runbook"}), wrap="sns")
def _fuzz(payload: Any, wrap: str) -> None:
    made = _event(payload, wrap)
    if made is None:
        COUNTS["undeliverable"] += 1  # nested too deep for Lambda's own JSON decoder: never reaches the code
        return
    event, size = made
    COUNTS["payloads"] += 1
    COUNTS["over-100KB"] += size > 100_000
    rendered: Rendered | None
    try:
        rendered, elapsed = render_all(event, budget_for(size))
    except MalformedInput:
        COUNTS["refused"] += 1
        return
    if elapsed > SLOWEST["seconds"]:
        SLOWEST.update(seconds=elapsed, bytes=size)
    group = rendered[0]
    COUNTS[f"rendered-{group.source.value}"] += 1
    COUNTS["groups-of-300"] += len(group.alerts) >= 300
    COUNTS["groups-of-1500"] += len(group.alerts) >= 1500
    assert_sendable(rendered)


@settings(
    max_examples=max(1, EXAMPLES // 5),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=list(Phase) if SHRINK else [Phase.explicit, Phase.reuse, Phase.generate],
)
@given(payload=alertmanager_group())
def _fuzz_endpoint(payload: Any) -> None:
    """Alertmanager through the endpoint: a 400, or parts that each fit SNS and each render within every limit."""
    raw = to_json(payload).encode("utf-8", "surrogatepass")
    if len(raw) > MAX_BODY_BYTES:
        return  # answered 413 before it is read
    COUNTS["bodies"] += 1
    start = time.perf_counter()
    try:
        body = decode_body(raw)
        if not isinstance(parse_payload(body), AlertmanagerMessage):
            raise MalformedInput("not an Alertmanager webhook body")
        check_alertmanager_body(body)
    except MalformedInput:
        COUNTS["bodies-refused"] += 1
        return
    parts = split_body(body)
    elapsed = time.perf_counter() - start
    assert elapsed < budget_for(len(raw)), f"{len(raw)} bytes split in {elapsed:.2f} s"
    COUNTS["parts"] += len(parts)
    attributes = {"source": "alertmanager", "severity": "critical", "part": f"{len(parts)}/{len(parts)}"}
    for part in parts:
        assert sns_bytes(part, "s" * 99, attributes) <= SNS_LIMIT  # a subject is under 100 characters
        rendered, _ = render_all(sns_event(part), budget_for(len(part.encode())))
        assert rendered[0].source is Source.ALERTMANAGER
        assert_sendable(rendered)


def test_fuzz_alertmanager_bodies_through_the_endpoint_fit_sns_and_render() -> None:
    COUNTS.clear()
    _fuzz_endpoint()
    print(f"\nendpoint fuzz: {dict(sorted(COUNTS.items()))}")
    assert COUNTS["bodies-refused"] < COUNTS["bodies"]


def test_fuzz_payloads_render_within_limits_and_budget_or_are_refused() -> None:
    COUNTS.clear()
    _fuzz()
    print(f"\nfuzz: {dict(sorted(COUNTS.items()))}; slowest {SLOWEST['seconds']:.3f} s for {SLOWEST['bytes']} bytes")
    assert COUNTS["payloads"] + COUNTS["undeliverable"] >= EXAMPLES
    assert COUNTS["refused"] < COUNTS["payloads"]
    least = EXAMPLES // 30
    assert all(COUNTS[f"rendered-{s}"] > least for s in ("cloudwatch", "eventbridge", "alertmanager")), COUNTS
