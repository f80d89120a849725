"""Recognise an SLO burn-rate alert: which SLO, which window, the burn rate, the budget left.

Two sources say it:
- a CloudWatch SLO alarm's description carries one machine-readable line, written by `infra/slo.py`
  (`description_line`): `slo: name=checkout-availability objective=99.9 period=30d window=1h/5m burn=14.4 action=page`;
- a Prometheus alert from `python -m tools.slo_rules` carries labels `slo`, `slo_window`, `slo_action` and
  annotations `slo_objective`, `burn_rate`, `error_ratio` (the long window's error ratio when it fired) and
  `budget_left` (percent of the period's budget, `97.5%`); its `description` annotation holds the same line.

Pure, linear and bounded: only the first `MAX_SCAN` characters of a description are read, every value is checked
against a pattern and a range, and anything else (a missing, malformed or hostile value) is left out; with no SLO
name there is no SLO (`None`). The Lambda asset cannot import `infra/`: a test pins this parser to that writer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from alertlib.models import Slo

MAX_SCAN = 8192  # characters of a description searched for the line (CloudWatch keeps 1024)
MAX_VALUE = 64  # characters of any one label or annotation value read
_LINE = re.compile(r"^[ \t>*-]*slo:[ \t]+(?P<fields>[^\r\n]{1,512}?)\r?$", re.M)
_FIELD = re.compile(r"([a-z_]{1,20})=(\S{1,100})")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_WINDOW = re.compile(r"^[1-9][0-9]{0,4}[smhdw]/[1-9][0-9]{0,4}[smhdw]$")
_NUMBER = re.compile(r"^[-+]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][-+]?[0-9]{1,3})?$")
_ACTIONS = ("page", "ticket")
_PERIOD = re.compile(r"^([1-9][0-9]{0,2})d$")
MAX_PERIOD_DAYS = 365  # infra/slo.py: period_days is 1 to 365


def recognise(
    description: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> Slo | None:
    """The SLO an alert is about, or None. Labels and annotations (Prometheus) win over the description's line
    (CloudWatch; also present in the rules' `description` annotation), field by field."""
    labels = labels or {}
    annotations = annotations or {}
    line = _line(description)
    name = _name(_get(labels, "slo")) or _name(line.get("name"))
    if name is None:
        return None
    objective = _number(_get(annotations, "slo_objective"), 0, 100, open_low=True, open_high=True)
    if objective is None:
        objective = _number(line.get("objective"), 0, 100, open_low=True, open_high=True)
    burn_rate = _number(_get(annotations, "burn_rate"), 0, 1_000_000, open_low=True)
    if burn_rate is None:
        burn_rate = _number(line.get("burn"), 0, 1_000_000, open_low=True)
    return Slo(
        name=name,
        objective=objective,
        window=_window(_get(labels, "slo_window")) or _window(line.get("window")),
        burn_rate=burn_rate,
        observed_burn_rate=_observed(annotations, objective),
        budget_left=_percent(_get(annotations, "budget_left"), -1_000_000, 100),
        action=_action(_get(labels, "slo_action")) or _action(line.get("action")),
    )


def period_days(description: str | None) -> int | None:
    """The compliance period of an SLO alarm's line (`period=30d` -> 30; 1 to 365 days), or None."""
    value = _line(description).get("period")
    match = _PERIOD.match(value) if value is not None else None
    if match is None:
        return None
    days = int(match.group(1))
    return days if 1 <= days <= MAX_PERIOD_DAYS else None


def _line(description: str | None) -> dict[str, str]:
    """The `slo:` line's fields (the first line only; the first of each key)."""
    if not description or not isinstance(description, str):
        return {}
    match = _LINE.search(description[:MAX_SCAN])
    if match is None:
        return {}
    fields: dict[str, str] = {}
    for key, value in _FIELD.findall(match.group("fields")):
        fields.setdefault(key, value)
    return fields


def _get(mapping: Mapping[str, str], key: str) -> str | None:
    value = mapping.get(key)
    if not isinstance(value, str) or len(value) > MAX_VALUE:
        return None
    return value.strip()


def _name(value: str | None) -> str | None:
    return value if value is not None and _NAME.match(value) else None


def _window(value: str | None) -> str | None:
    return value if value is not None and _WINDOW.match(value) else None


def _action(value: str | None) -> str | None:
    value = value.lower() if value is not None else None
    return value if value in _ACTIONS else None


def _number(
    value: str | None, low: float, high: float, *, open_low: bool = False, open_high: bool = False
) -> float | None:
    """A finite number within [low, high] (open ends as asked), or None."""
    if value is None or not _NUMBER.match(value):
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    if number < low or number > high or (open_low and number == low) or (open_high and number == high):
        return None
    return number


def _percent(value: str | None, low: float, high: float) -> float | None:
    if value is None:
        return None
    return _number(value.removesuffix("%").strip(), low, high)


def _observed(annotations: Mapping[str, str], objective: float | None) -> float | None:
    """The burn rate seen: the `observed_burn_rate` annotation, else `error_ratio` / (1 - objective)."""
    observed = _number(_get(annotations, "observed_burn_rate"), 0, 1_000_000)
    if observed is not None:
        return observed
    ratio = _number(_get(annotations, "error_ratio"), 0, 1)
    if ratio is None or objective is None:
        return None
    return round(ratio / ((100 - objective) / 100), 2)
