"""The docs quote what the stacks create: every alarm name and every setting that `docs/alarms.md` and the runbooks
state is checked against the alarms the code makes, so a runbook cannot send someone at 3 a.m. to look for an alarm
that does not exist, or tell them it fires on 3 of 5 datapoints when it fires on 5 of 5.

The alarms the docs are checked against:
- names: every alarm of the synthesized dev and prod environments (the docs' examples are prod's and dev's
  resources); a name with placeholders (`<env>-rds-<DBInstanceIdentifier>-CPUUtilization`, `$ENV-…`, `…`) must
  match at least one of them;
- settings of the recommended alarms: the catalogue's own (`infra/alarm_specs.py` for prod's resources with the
  environment's `defaults` and `overrides` left out, since the docs state the defaults);
- settings of the pipeline's alarms: the synthesized alerting stacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.alarm_specs import plan_alarms
from infra.config import EnvironmentConfig
from tests.infra.conftest import Synthesized

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUNBOOKS = sorted((DOCS / "runbooks").glob("*.md"))
OPERATORS = {
    ">": "GreaterThanThreshold",
    ">=": "GreaterThanOrEqualToThreshold",
    "≥": "GreaterThanOrEqualToThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
    "≤": "LessThanOrEqualToThreshold",
}
DIMENSIONS = {"DBInstanceIdentifier", "CacheClusterId", "CacheNodeId", "ClusterName", "ServiceName", "FunctionName",
              "QueueName", "TopicName", "RuleName"}  # fmt: skip
_ENVS = r"(?:dev|prod|scale)"


@dataclass(frozen=True)
class Alarm:
    name: str
    kind: str
    namespace: str
    metric: str
    dimensions: frozenset[str]
    statistic: str
    period: int
    datapoints: int
    evaluations: int
    comparison: str
    threshold: float
    missing: str


def _defaults_only(config: EnvironmentConfig) -> EnvironmentConfig:
    return config.model_copy(
        update={
            "defaults": {},
            "rds": [r.model_copy(update={"overrides": {}}) for r in config.rds],
            "elasticache": [c.model_copy(update={"overrides": {}}) for c in config.elasticache],
            "ecs": [s.model_copy(update={"overrides": {}}) for s in config.ecs],
        }
    )


def _from_template(props: dict[str, Any]) -> Alarm:
    description = props.get("AlarmDescription", "")
    linked = re.search(r"runbook: \S*?([^/\s]+)\.md", description)
    kind = linked.group(1) if linked else ""
    # A metric-math alarm is described by the first metric it reads.
    stat = next((q["MetricStat"] for q in props.get("Metrics", []) if "MetricStat" in q), None)
    metric = stat["Metric"] if stat else props
    return Alarm(
        name=props["AlarmName"],
        kind=kind,
        namespace=metric.get("Namespace", ""),
        metric=metric.get("MetricName", ""),
        dimensions=frozenset(d["Name"] for d in metric.get("Dimensions", [])),
        statistic=stat["Stat"] if stat else props.get("Statistic") or props.get("ExtendedStatistic", ""),
        period=int(stat["Period"] if stat else props.get("Period", 0)),
        datapoints=int(props.get("DatapointsToAlarm", props.get("EvaluationPeriods", 0))),
        evaluations=int(props.get("EvaluationPeriods", 0)),
        comparison=props.get("ComparisonOperator", ""),
        threshold=float(props.get("Threshold", "nan")),
        missing=props.get("TreatMissingData", "missing"),
    )


@pytest.fixture(scope="module")
def names(dev: Synthesized, prod: Synthesized) -> set[str]:
    found: set[str] = set()
    for env in (dev, prod):
        for template in env.templates.values():
            found |= {r["Properties"]["AlarmName"] for r in template.find_resources("AWS::CloudWatch::Alarm").values()}
            found |= {
                r["Properties"]["AlarmName"]
                for r in template.find_resources("AWS::CloudWatch::CompositeAlarm").values()
            }
    return found


@pytest.fixture(scope="module")
def by_kind(dev: Synthesized, prod: Synthesized) -> dict[str, list[Alarm]]:
    kinds: dict[str, list[Alarm]] = {}
    for spec in plan_alarms(_defaults_only(prod.config)):
        kinds.setdefault(spec.kind, []).append(
            Alarm(spec.name, spec.kind, spec.namespace, spec.metric, frozenset(k for k, _ in spec.dimensions),
                  spec.statistic, spec.period, spec.datapoints_to_alarm, spec.evaluation_periods, spec.comparison,
                  spec.threshold, spec.treat_missing_data)
        )  # fmt: skip
    for env in (dev, prod):  # every other stack's alarms as synthesized (the catalogue's are planned above)
        for stack, template in env.templates.items():
            if stack.startswith(f"{env.config.name}-alarms-"):
                continue
            for resource in template.find_resources("AWS::CloudWatch::Alarm").values():
                alarm = _from_template(resource["Properties"])
                kinds.setdefault(alarm.kind, []).append(alarm)
    return kinds


def test_docs_every_alarm_kind_has_its_runbook(by_kind: dict[str, list[Alarm]]) -> None:
    missing = sorted(kind for kind in by_kind if not (DOCS / "runbooks" / f"{kind}.md").is_file())
    assert not missing, f"alarms link runbooks that do not exist: {missing}"


def _pattern(quoted: str) -> re.Pattern[str]:
    """A quoted name as a regular expression: `<…>` and `$VAR` stand for any text, `…` too."""
    parts = re.split(r"(<[^>]+>|\$\{?[A-Z_]+\}?|…)", quoted)
    regex = "".join(
        (_ENVS if p in ("<env>", "$ENV", "${ENV}") else ".+?") if re.fullmatch(r"<[^>]+>|\$\{?[A-Z_]+\}?|…", p)
        else re.escape(p)
        for p in parts
    )  # fmt: skip
    return re.compile(regex)


def _bullets(text: str, label: str) -> Iterator[str]:
    """The text of each `- **<label>:**` bullet, continuation lines included."""
    for match in re.finditer(rf"^- \*\*{label}:\*\*(.*?)(?=^- |^\s*$|\Z)", text, re.M | re.S):
        yield " ".join(match.group(1).split())


def _quoted_names(path: Path) -> Iterator[tuple[str, str]]:
    """(where, name) for every alarm name the page quotes."""
    text = path.read_text(encoding="utf-8")
    env_name = rf"(?:<env>|\$\{{?ENV\}}?|{_ENVS})-[^`\s\"']+"
    for bullet in _bullets(text, "Alarm"):
        for token in re.findall(r"`([^`]+)`", bullet):
            if re.fullmatch(env_name, token):
                yield f"{path.name}: Alarm", token
    for token in re.findall(rf"--alarm-names? \"?({env_name})\"?", text):
        yield f"{path.name}: --alarm-name", token
    for token in re.findall(rf"\bALARM=\"?({env_name})\"?", text):
        yield f"{path.name}: ALARM=", token
    if path.name == "alarms.md":  # every name there is an alarm's, but a stack's, said so ("stack `<env>-slos`")
        for stack, token in re.findall(r"(stack )?`([^`]+)`", text):
            if not stack and re.fullmatch(env_name, token) and token != "<env>-<service>-<resource>-<metric>":
                yield f"{path.name}", token


QUOTING = [DOCS / "alarms.md", *RUNBOOKS, DOCS.parent / "README.md"]  # README: its --alarm-name commands


@pytest.mark.parametrize("path", QUOTING, ids=lambda p: p.name)
def test_docs_every_quoted_alarm_name_is_one_the_stacks_create(path: Path, names: set[str]) -> None:
    wrong = [
        f"{where}: {quoted}" for where, quoted in _quoted_names(path)
        if not any(_pattern(quoted).fullmatch(name) for name in names)
    ]  # fmt: skip
    assert not wrong, "names no synthesized alarm has (dev, prod):\n" + "\n".join(wrong)


def _claims(text: str) -> dict[str, Any]:
    """The settings a sentence states: statistic, period, datapoints, comparison, threshold, missing data."""
    claims: dict[str, Any] = {}
    if m := re.search(r"statistic `([^`]+)`", text):
        claims["statistic"] = m.group(1)
    if m := re.search(r"period (\d+) s", text):
        claims["period"] = int(m.group(1))
    if m := re.search(r"(\d+) of (\d+) datapoints", text):
        claims["datapoints"], claims["evaluations"] = int(m.group(1)), int(m.group(2))
    if m := re.search(r"datapoints `(>=|<=|>|<|≥|≤)\s*([\d.]*)`(\s*(?:%|s|per minute)?\s*(of)?)", text):
        claims["comparison"] = OPERATORS[m.group(1)]
        if m.group(2) and not m.group(4):
            claims["threshold"] = float(m.group(2))
    if "missing data is not breaching" in text or "missing data notBreaching" in text:
        claims["missing"] = "notBreaching"
    elif "missing data is treated as breaching" in text:
        claims["missing"] = "breaching"
    return claims


def _differences(claims: dict[str, Any], alarms: list[Alarm]) -> Iterator[str]:
    for key, value in claims.items():
        actual = sorted({str(getattr(a, key)) for a in alarms})
        if actual != [str(value)]:
            yield f"{key}: the docs say {value}, the alarms have {', '.join(actual)}"


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.name)
def test_docs_runbook_metric_and_condition_match_the_alarms_of_its_kind(
    path: Path, by_kind: dict[str, list[Alarm]]
) -> None:
    alarms = by_kind.get(path.stem)
    text = path.read_text(encoding="utf-8")
    if alarms is None:
        assert not list(_bullets(text, "Condition")), f"{path.name} states a condition but no alarm links it"
        pytest.skip(f"{path.name} is not an alarm's runbook")
    problems: list[str] = []
    for metric_line in _bullets(text, "Metric"):
        quoted = re.findall(r"`([^`]+)`", metric_line)
        namespace, metric = quoted[0], quoted[1]
        if {(a.namespace, a.metric) for a in alarms} & {(namespace, metric)} != {(namespace, metric)}:
            problems.append(f"Metric: {namespace} {metric}, the alarms read "
                            f"{sorted({(a.namespace, a.metric) for a in alarms})}")  # fmt: skip
        named = {q for q in quoted if q in DIMENSIONS}
        problems += [f"Metric: dimension {d} is on no alarm of this kind" for d in named
                     if not any(d in a.dimensions for a in alarms)]  # fmt: skip
    claims: dict[str, Any] = {}
    for label in ("Metric", "Condition"):
        for line in _bullets(text, label):
            claims |= _claims(line)
    assert claims, f"{path.name}: no condition stated"
    problems += list(_differences(claims, alarms))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def _rows(text: str, header: str) -> Iterator[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            return
        yield [cell.strip() for cell in line.strip("|").split("|")]


def test_docs_alarms_table_matches_the_catalogue(by_kind: dict[str, list[Alarm]]) -> None:
    text = (DOCS / "alarms.md").read_text(encoding="utf-8")
    problems: list[str] = []
    rows = list(_rows(text, "| kind (runbook)"))
    for kind_cell, metric, dimensions, statistic, period, datapoints, threshold, missing, _ in rows:
        kind = re.search(r"\[([^\]]+)\]", kind_cell)
        assert kind, kind_cell
        alarms = by_kind.get(kind.group(1), [])
        if not alarms:
            problems.append(f"{kind.group(1)}: no alarm of this kind")
            continue
        namespace, name = metric.split()[:2]
        if (namespace, name) not in {(a.namespace, a.metric) for a in alarms}:
            problems.append(f"{kind.group(1)}: metric {namespace} {name} is not what its alarms read")
        for dimension in re.findall(r"[A-Za-z]+", dimensions):
            if dimension in DIMENSIONS and not any(dimension in a.dimensions for a in alarms):
                problems.append(f"{kind.group(1)}: dimension {dimension} is on none of its alarms")
        claims: dict[str, Any] = {"statistic": statistic, "period": int(period.removesuffix(" s")),
                                  "missing": missing}  # fmt: skip
        a, b = datapoints.split("/")
        claims["datapoints"], claims["evaluations"] = int(a), int(b)
        if m := re.fullmatch(r"(>=|<=|>|<) ([\d.,]+)( %| s| per minute)?", threshold):
            claims["comparison"], claims["threshold"] = OPERATORS[m.group(1)], float(m.group(2).replace(",", ""))
        elif m := re.match(r"(>=|<=|>|<) ", threshold):
            claims["comparison"] = OPERATORS[m.group(1)]
        problems += [f"{kind.group(1)}: {p}" for p in _differences(claims, alarms)]
    assert len(rows) == len([k for k in by_kind if k.split("-")[0] in ("rds", "elasticache", "ecs")]), (
        "every kind of recommended alarm has a row"
    )
    for alarm_cell, metric, _dimensions, _through in _rows(text, "| alarm (runbook)"):
        kind = re.search(r"\[([^\]]+)\]", alarm_cell)
        assert kind, alarm_cell
        alarms = by_kind.get(kind.group(1), [])
        namespace, name = metric.replace(",", "").split()[:2]
        if (namespace, name) not in {(x.namespace, x.metric) for x in alarms}:
            problems.append(f"{kind.group(1)}: metric {namespace} {name} is not what its alarms read")
        if m := re.search(r"(Sum|Maximum|Average|Minimum) (>=|<=|>|<|≥) ([\d.]+)", metric):
            claims = {"statistic": m.group(1), "comparison": OPERATORS[m.group(2)], "threshold": float(m.group(3))}
            problems += [f"{kind.group(1)}: {p}" for p in _differences(claims, alarms)]
    assert not problems, "docs/alarms.md:\n" + "\n".join(problems)
