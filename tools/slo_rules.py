"""Write the Prometheus rule file of an environment's SLOs: the same definitions and window table as the CloudWatch
alarms (infra/slo.py), so both alert at the same error ratios over the same windows.

    python -m tools.slo_rules --env dev [--out FILE]

Per SLO with `promql` (the others are CloudWatch only and are skipped, with a note on stderr and in the file):
- recording rules `slo:sli_error:ratio_rate<window>{slo="..."}`: the error ratio over each window of the table, and
  over the SLO's period (`ratio_rate30d`), with `slo:error_budget_remaining:ratio` (1 = untouched, 0 = spent);
- one alerting rule `SLOErrorBudgetBurn` per window pair: long AND short window at or above
  `burn rate x (1 - objective)` (less infra.slo.TOLERANCE, as the CloudWatch alarms); labels `severity` (page ->
  critical, ticket -> warning: examples/alertmanager.yml routes them), `slo`, `slo_window`, `slo_action`, `service`,
  `team`; annotations `summary`, `description` (its first line is the same `slo:` line the CloudWatch alarms carry),
  `runbook_url`, `dashboard_url`, `slo_objective`, `burn_rate`, `error_ratio` and `budget_left`, which the forwarders
  read (`alertlib.slo.recognise`);
- `SLOSignalMissing` (warning) when the SLI's total returns nothing for an hour (15 minutes pending): a renamed
  metric would otherwise leave the burn-rate alerts unable to fire, silently.
Exit 2 with one line on stderr for a configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from infra.config import ConfigError, load_config
from infra.slo import (
    ACTION_SEVERITY,
    WINDOW_PLACEHOLDER,
    SloDefinition,
    alarm_threshold,
    description_line,
    duration,
    objective_text,
)

ALERT = "SLOErrorBudgetBurn"
MISSING = "SLOSignalMissing"
MISSING_WINDOW = "1h"  # the SLI's total over this long returning nothing, for MISSING_FOR, raises MISSING
MISSING_FOR = "15m"
ERROR_RATIO = "slo:sli_error:ratio_rate{window}"
BUDGET_REMAINING = "slo:error_budget_remaining:ratio"
PERIOD_INTERVAL = "5m"  # the period's ratio (30 days of samples) is evaluated less often than the windows


def ratio_metric(window: str) -> str:
    """`slo:sli_error:ratio_rate1h`: the recording rule of the error ratio over `window`."""
    return ERROR_RATIO.format(window=window)


def _selector(slo: SloDefinition) -> str:
    return f'{{slo="{slo.name}"}}'


def rule_groups(slo: SloDefinition) -> list[dict[str, Any]]:
    """The two rule groups of one SLO (it must have `promql`): the windows and alerts, and the period's budget."""
    if slo.promql is None:
        raise ValueError(f"{slo.name}: no promql")
    windows = sorted({m for w in slo.alert_windows for m in (w.long_minutes, w.short_minutes)})
    labels = {"slo": slo.name}
    rules: list[dict[str, Any]] = [
        {"record": ratio_metric(duration(m)), "expr": slo.promql.error_ratio(duration(m)), "labels": dict(labels)}
        for m in windows
    ]
    for window in slo.alert_windows:
        limit = alarm_threshold(slo.objective, window)
        long_metric = ratio_metric(window.long) + _selector(slo)
        short_metric = ratio_metric(window.short) + _selector(slo)
        line = description_line(slo, window)
        budget = (
            f'{{{{ with query "{BUDGET_REMAINING}{{slo=\\"{slo.name}\\"}}" }}}}'
            "{{ . | first | value | humanizePercentage }}{{ end }}"
        )
        annotations = {
            "summary": (
                f"{slo.name}: error budget burning at {window.burn_rate:g}x or more over {window.long} and "
                f"{window.short} ({window.action})"
            ),
            "description": (
                f"{line}\n{slo.service} ({slo.team}): {slo.name} ({objective_text(slo.objective)} % over "
                f"{slo.period_days} days) spends its error budget at {window.burn_rate:g}x or more: "
                f"{window.budget_consumed(slo.period_days) * 100:.3g} % of it in {window.long}."
            ),
            "runbook_url": slo.runbook_url,
            "slo_objective": objective_text(slo.objective),
            "burn_rate": f"{window.burn_rate:g}",
            "error_ratio": '{{ $value | printf "%.6g" }}',
            "budget_left": budget,
        }
        if slo.dashboard_url:
            annotations["dashboard_url"] = slo.dashboard_url
        rules.append(
            {
                "alert": ALERT,
                "expr": f"{long_metric} >= {limit!r}\nand\n{short_metric} >= {limit!r}",
                "labels": {
                    "severity": ACTION_SEVERITY[window.action],
                    "slo": slo.name,
                    "slo_window": window.label,
                    "slo_action": window.action,
                    "service": slo.service,
                    "team": slo.team,
                },
                "annotations": annotations,
            }
        )
    rules.append(
        {
            "alert": MISSING,
            "expr": f"absent(\n{slo.promql.total.replace(WINDOW_PLACEHOLDER, MISSING_WINDOW)}\n)",
            "for": MISSING_FOR,
            "labels": {"severity": "warning", "slo": slo.name, "service": slo.service, "team": slo.team},
            "annotations": {
                "summary": f"{slo.name}: no SLI data for {MISSING_WINDOW}; its burn-rate alerts cannot fire",
                "description": (
                    f"The total of {slo.name}'s SLI (promql.total in the environment's config) returned nothing over "
                    f"{MISSING_WINDOW}: a renamed metric or label, or a target no longer scraped. No traffic at all "
                    "would read 0, not nothing."
                ),
                "runbook_url": slo.runbook_url,
            },
        }
    )
    period = duration(slo.period_days * 1440)
    budget_rules: list[dict[str, Any]] = [
        {"record": ratio_metric(period), "expr": slo.promql.error_ratio(period), "labels": dict(labels)},
        {
            "record": BUDGET_REMAINING,
            "expr": f"1 - {ratio_metric(period)}{_selector(slo)} / {slo.error_budget!r}",
            "labels": dict(labels),
        },
    ]
    return [
        {"name": f"slo-{slo.name}", "rules": rules},
        {"name": f"slo-{slo.name}-budget", "interval": PERIOD_INTERVAL, "rules": budget_rules},
    ]


def render_rules(env: str, slos: list[SloDefinition]) -> tuple[str, list[str]]:
    """The rule file's text and the names of the SLOs skipped (no PromQL)."""
    skipped = [s.name for s in slos if s.promql is None]
    groups = [g for s in slos if s.promql is not None for g in rule_groups(s)]
    head = [
        f"# Generated by `python -m tools.slo_rules --env {env}` from config/{env}.json and the window table in",
        "# infra/slo.py (the CloudWatch alarms use the same). Do not edit: change the config and generate again.",
    ]
    head += [f"# Skipped (no promql, CloudWatch only): {name}" for name in skipped]
    if not groups:
        return "\n".join([*head, "groups: []"]) + "\n", skipped
    return "\n".join([*head, *to_yaml(groups)]) + "\n", skipped


def to_yaml(groups: list[dict[str, Any]]) -> list[str]:
    """The rule groups as YAML lines: one layout (groups, rules, labels, annotations), every value double-quoted as a
    JSON string (a valid YAML scalar whatever it holds), multi-line PromQL and descriptions as literal blocks."""
    lines = ["groups:"]
    for group in groups:
        lines.append(f"  - name: {_scalar(group['name'])}")
        if "interval" in group:
            lines.append(f"    interval: {group['interval']}")
        lines.append("    rules:")
        for rule in group["rules"]:
            for index, (key, value) in enumerate(rule.items()):
                lead = "      - " if index == 0 else "        "
                if isinstance(value, dict):
                    lines.append(f"{lead}{key}:")
                    for name, text in value.items():
                        lines.extend(_entry(name, text, " " * 10))
                else:
                    lines.extend(_entry(key, value, lead))
    return lines


def _entry(key: str, value: str, lead: str) -> list[str]:
    body = value.split("\n")
    if len(body) > 1 and all(line.strip() and line == line.strip() and line.isprintable() for line in body):
        indent = " " * (len(lead) + 2)
        return [f"{lead}{key}: |-", *(indent + line for line in body)]
    return [f"{lead}{key}: {_scalar(value)}"]


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.slo_rules", description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True, help="the environment (config/<env>.json)")
    parser.add_argument("--out", type=Path, help="the rule file to write (default: standard output)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text, skipped = render_rules(config.name, list(config.slos))
    for name in skipped:
        print(f"note: {name} has no promql: CloudWatch only, no Prometheus rules", file=sys.stderr)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
