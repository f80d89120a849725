"""Fuzzing that reaches the edges: generated payloads of every shape through parse, normalise, redact and render.

Every payload is rendered or refused with `MalformedInput` (no other exception); every output holds every PagerDuty
and Slack limit (`tools.standins`, the checkers the stand-ins answer with), no link can show one target and open
another, nothing pings in Slack and no planted e-mail address survives (`assert_sendable`); and each payload goes
through every stage within a time budget (`BUDGET_SECONDS`), so a slow path fails the run like a crash does. The
strategies (`tests/unit/strategies.py`) reach 300-alert groups, 200 KB strings, 1,000 labels, JSON nested 1,000
deep, numbers of 5,000 digits, and the hostile characters.

`make fuzz` runs 10,000 examples and shrinks a failure to a minimal example (`FUZZ_EXAMPLES=10000 FUZZ_SHRINK=1`);
the default suite runs 150 and reports the first failure as found.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from alertlib.errors import MalformedInput
from tests.conftest import sns_event
from tests.unit.helpers import BUDGET_SECONDS, Rendered, assert_sendable, render_all
from tests.unit.strategies import PAYLOAD, to_json

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
SHRINK = os.environ.get("FUZZ_SHRINK", "0") == "1"
COUNTS: Counter[str] = Counter()
SLOWEST: dict[str, float] = {"seconds": 0.0, "bytes": 0}


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
        rendered, elapsed = render_all(event, BUDGET_SECONDS)
    except MalformedInput:
        COUNTS["refused"] += 1
        return
    if elapsed > SLOWEST["seconds"]:
        SLOWEST.update(seconds=elapsed, bytes=size)
    group = rendered[0]
    COUNTS[f"rendered-{group.source.value}"] += 1
    COUNTS["groups-of-300"] += len(group.alerts) >= 300
    assert_sendable(rendered)


def test_fuzz_payloads_render_within_limits_and_budget_or_are_refused() -> None:
    COUNTS.clear()
    _fuzz()
    print(f"\nfuzz: {dict(sorted(COUNTS.items()))}; slowest {SLOWEST['seconds']:.3f} s for {SLOWEST['bytes']} bytes")
    assert COUNTS["payloads"] + COUNTS["undeliverable"] >= EXAMPLES
    assert COUNTS["refused"] < COUNTS["payloads"]
    least = EXAMPLES // 30
    assert all(COUNTS[f"rendered-{s}"] > least for s in ("cloudwatch", "eventbridge", "alertmanager")), COUNTS
