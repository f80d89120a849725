"""The wording rules of issue 13, pinned over every sample and a synthetic alarm per metric of the catalogue: no
mrkdwn line starts with `&gt;` (a quote in Slack), no number in scientific notation, the unit shown where the metric
has one, severity and state in the header, every block inside the coloured attachment, common labels once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from alertlib.errors import MalformedInput, NotAStateChange
from alertlib.models import AlertGroup, Status
from alertlib.render_slack import message_blocks, render_digest, render_slack
from infra.metric_catalogue import FACTS, MetricFact
from tests.conftest import EVENTS, NOW, sns_event
from tests.unit.helpers import alarm, alertmanager, group_of
from tools.standins import slack_problems

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples"
SCIENTIFIC = re.compile(r"\d[eE][+-]?\d")
SEVERITY_WORDS = ("CRITICAL", "ERROR", "WARNING", "INFO")
_TOKEN = re.compile(r"<[^<>]*>")  # links and dates: their targets are URLs and epochs, not numbers we wrote


def _sample_files() -> list[Path]:
    files = sorted(EVENTS.glob("*.json"))
    if SAMPLES.is_dir():
        files += sorted(SAMPLES.glob("*.json"))
    return files


def _groups() -> list[tuple[str, AlertGroup]]:
    found = []
    for path in _sample_files():
        try:
            group = group_of(json.loads(path.read_text(encoding="utf-8")))
        except (MalformedInput, NotAStateChange):
            continue  # not an alert (PagerDuty's own examples, a bare SNS envelope)
        found.append((f"{path.parent.name}/{path.name}", group))
    return found


GROUPS = _groups()


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every mrkdwn text of a message: section texts and fields, context elements."""
    texts = []
    for block in message_blocks(message):
        for item in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(item, dict) and item.get("type") == "mrkdwn":
                texts.append(item["text"])
    return texts


def words(message: dict[str, Any]) -> list[str]:
    """What a reader reads: the push text, the header, every mrkdwn text but the footer (message ids are random
    hexadecimal) with links and dates taken out."""
    blocks = message_blocks(message)
    header = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    texts = [t for t in mrkdwn_texts(message) if not t.startswith(("CloudWatch", "Alertmanager", "Digest of"))]
    return [_TOKEN.sub(" ", t) for t in [message["text"], *header, *texts]]


def assert_wording(message: dict[str, Any]) -> None:
    assert slack_problems(message) == []
    # The header alone on top (with top-level blocks Slack draws them, not `text`, which stays the push text: no
    # summary twice), every other block inside the coloured attachment, which frames the body.
    assert [b["type"] for b in message["blocks"]] == ["header"]
    [attachment] = message["attachments"]
    assert re.fullmatch(r"#[0-9A-F]{6}", attachment["color"])
    assert attachment["blocks"] and all(b["type"] != "header" for b in attachment["blocks"])
    blocks = message_blocks(message)
    assert blocks[0]["type"] == "header"
    assert any(word in blocks[0]["text"]["text"] for word in SEVERITY_WORDS), blocks[0]["text"]["text"]
    for text in mrkdwn_texts(message):
        for line in text.split("\n"):
            assert not line.startswith("&gt;"), f"a quote in Slack: {line[:120]!r}"
    for text in words(message):
        assert not SCIENTIFIC.search(text), f"scientific notation: {text[:200]!r}"
    assert not message["text"].startswith("["), "the lock screen starts with what broke, not a bracketed state"


@pytest.mark.parametrize(("name", "group"), GROUPS, ids=[name for name, _ in GROUPS])
def test_wording_every_sample(name: str, group: AlertGroup) -> None:
    assert_wording(render_slack(group, now=NOW))
    assert_wording(render_slack(group, now=NOW, notice="PagerDuty did not take this alert.", oncall_slack_group="S1"))
    assert_wording(render_digest([group, group], now=NOW, max_listed=10))


def test_wording_samples_were_found() -> None:
    assert len(GROUPS) >= 7


# -- A synthetic alarm per metric of the catalogue ----------------------------------------------------------------

# A threshold, a value seen and the unit each reads in, per CloudWatch unit: large and small enough that a `%g`
# would write them in scientific notation.
_READINGS = {
    "Percent": (90.0, 97.5, "%"),
    "Bytes": (107374182400.0, 96640000000.0, "GiB"),
    "Seconds": (0.02, 0.0412, "ms"),
    "Milliseconds": (20000.0, 45628.0, "s"),
    "Count": (1.0, 45628.0, ""),
}
_COMPARISON = {"Bytes": "LessThanThreshold", "Count": "GreaterThanOrEqualToThreshold"}


def _catalogue_alarm(fact: MetricFact, state: str) -> dict[str, Any]:
    threshold, value, _ = _READINGS[fact.unit]
    comparison = _COMPARISON.get(fact.unit, "GreaterThanThreshold")
    words = "less than" if comparison.startswith("Less") else "greater than or equal to"
    negation = "not " if state == "OK" else ""
    reason = (
        f"Threshold Crossed: 1 out of the last 1 datapoints [{value!r} (22/11/26 02:55:00)] was {negation}{words} "
        f"the threshold ({threshold!r}) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    if state == "INSUFFICIENT_DATA":
        reason = "Insufficient Data: 1 datapoint was unknown."
    body = alarm(name=f"prod-{fact.namespace.split('/')[-1]}-{fact.name}", state=state, reason=reason)
    dimensions = sorted(next(iter(s for s in fact.dimension_sets if s), frozenset({"Name"})))
    body["Trigger"].update(
        MetricName=fact.name,
        Namespace=fact.namespace,
        Statistic="SUM" if "Sum" in fact.statistics else "AVERAGE",
        Dimensions=[{"name": d, "value": f"{d.lower()}-1"} for d in dimensions],
        ComparisonOperator=comparison,
        Threshold=threshold,
    )
    return body


FACT_IDS = [f"{f.namespace}:{f.name}" for f in FACTS]


@pytest.mark.parametrize("fact", FACTS, ids=FACT_IDS)
@pytest.mark.parametrize("state", ["ALARM", "OK", "INSUFFICIENT_DATA"])
def test_wording_every_catalogue_metric(fact: MetricFact, state: str) -> None:
    if fact.unit not in _READINGS:
        pytest.fail(f"no reading for unit {fact.unit}: add one")
    group = group_of(sns_event(_catalogue_alarm(fact, state)))
    message = render_slack(group, now=NOW)
    assert_wording(message)
    summary = group.alerts[0].summary
    _, _, unit = _READINGS[fact.unit]
    if state == "INSUFFICIENT_DATA":
        assert summary.startswith(f"No data for {fact.name}")
        return
    if unit:
        assert unit in summary, summary
    comparison = "below" if fact.unit == "Bytes" else "at or above" if fact.unit == "Count" else "above"
    assert f"(alarm {comparison} " in summary, summary
    assert summary.startswith("Recovered: ") == (state == "OK")
    if fact.unit == "Count":
        assert "45,628" in summary and "at or above 1" in summary


def test_wording_catalogue_reads_like_the_issue_says() -> None:
    by_name = {(f.namespace, f.name): f for f in FACTS}
    disk = group_of(sns_event(_catalogue_alarm(by_name[("AWS/RDS", "FreeStorageSpace")], "ALARM"))).alerts[0]
    assert "FreeStorageSpace 90 GiB free (alarm below 100 GiB)" in disk.summary
    latency = group_of(sns_event(_catalogue_alarm(by_name[("AWS/RDS", "ReadLatency")], "ALARM"))).alerts[0]
    assert "ReadLatency 41 ms (alarm above 20 ms)" in latency.summary


# -- Groups: common labels once ------------------------------------------------------------------------------------


def _shop(n: int, status: str = "firing") -> dict[str, Any]:
    body = alertmanager(n, status=status)
    for index, item in enumerate(body["alerts"]):
        item["labels"] = {"alertname": "HighLatency", "severity": "critical", "namespace": "shop",
                          "pod": f"checkout-{index:04d}"}  # fmt: skip
        item["annotations"]["summary"] = "p99 latency above 2 s"
    body["commonLabels"] = {"alertname": "HighLatency", "severity": "critical", "namespace": "shop"}
    body["commonAnnotations"] = {"summary": "p99 latency above 2 s"}
    return body


def test_wording_group_shows_common_labels_once_and_compresses_runs() -> None:
    message = render_slack(group_of(sns_event(_shop(300))), now=NOW)
    assert_wording(message)
    text = "\n".join(mrkdwn_texts(message))
    assert text.count("namespace=shop") == 1
    assert "alertname" not in text  # the header names it
    assert "pod: checkout-0000 \u2026 0009, +290" in text
    assert text.count("300 firing") <= 1 and "0 resolved" not in json.dumps(message)
    assert "checkout-0000" in message["text"] and "HighLatency" in message["text"]


def test_wording_resolved_group_has_no_silence_button() -> None:
    message = render_slack(group_of(sns_event(_shop(3, "resolved"))), now=NOW)
    buttons = [e["text"]["text"] for b in message_blocks(message) if b["type"] == "actions" for e in b["elements"]]
    assert "Silence" not in buttons and "Open in Alertmanager" in buttons
    assert_wording(message)


@pytest.mark.parametrize("status", [Status.FIRING, Status.RESOLVED, Status.INSUFFICIENT_DATA])
def test_wording_every_state_of_a_cloudwatch_alarm(status: Status) -> None:
    state = {Status.FIRING: "ALARM", Status.RESOLVED: "OK", Status.INSUFFICIENT_DATA: "INSUFFICIENT_DATA"}[status]
    assert_wording(render_slack(group_of(sns_event(alarm(state=state))), now=NOW))


# -- Alert text that would break the rules: a line starting with `>`, scientific notation from the source ---------


def test_wording_alert_text_never_starts_a_quote() -> None:
    body = alarm(description="> quoted line\nok\n>> twice\n  > indented", reason="> 5 errors\nnext")
    message = render_slack(group_of(sns_event(body)), now=NOW)
    assert_wording(message)
    assert "\u203a quoted line" in json.dumps(message, ensure_ascii=False)
    am = alertmanager(3)
    for item in am["alerts"]:
        item["annotations"]["summary"] = "> 5% errors"
        item["labels"]["note"] = ">x"
    assert_wording(render_slack(group_of(sns_event(am)), now=NOW))
    assert_wording(render_digest([group_of(sns_event(am))], now=NOW, max_listed=3))
    single = alertmanager(1)
    single["alerts"][0]["labels"]["service"] = "> svc"
    single["alerts"][0]["annotations"]["summary"] = "> 5% errors"
    assert_wording(render_digest([group_of(sns_event(single))] * 2, now=NOW, max_listed=3))


def test_wording_source_numbers_in_scientific_notation_are_written_plainly() -> None:
    reason = (
        "Threshold Crossed: 1 out of the last 1 datapoints [9.6640708608E10 (22/11/26 02:55:00)] was less than the "
        "threshold (1.073741824E11) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    body = alarm(reason=reason)
    body["Trigger"].update(
        MetricName="FreeStorageSpace", ComparisonOperator="LessThanThreshold", Threshold=1.073741824e11
    )
    group = group_of(sns_event(body))
    assert group.alerts[0].summary == "FreeStorageSpace 90 GiB free (alarm below 100 GiB) on orders-db"
    message = render_slack(group, now=NOW)
    assert_wording(message)
    assert "96,640,708,608" in json.dumps(message)
    am = alertmanager(1)
    am["alerts"][0]["annotations"]["summary"] = "queue depth 4.563e+04 on api-0"
    message = render_slack(group_of(sns_event(am)), now=NOW)
    assert "queue depth 45,630 on api-0" in message["text"]
    assert_wording(message)
