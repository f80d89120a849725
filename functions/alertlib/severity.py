"""Severity words from every source, mapped onto PagerDuty's four (decisions.md, 2026-11-22)."""

from __future__ import annotations

from alertlib.models import Severity

_ALIASES: dict[str, Severity] = {}
for _severity, _words in {
    Severity.CRITICAL: (
        "critical",
        "crit",
        "page",
        "pager",
        "fatal",
        "emergency",
        "emerg",
        "alert",
        "disaster",
        "p0",
        "p1",
        "sev0",
        "sev1",
        "sev-1",
        "s1",
        "blocker",
    ),
    Severity.ERROR: ("error", "err", "high", "major", "severe", "p2", "sev2", "sev-2", "s2"),
    Severity.WARNING: ("warning", "warn", "medium", "moderate", "minor", "average", "p3", "sev3", "sev-3", "s3"),
    Severity.INFO: (
        "info",
        "informational",
        "information",
        "notice",
        "low",
        "none",
        "debug",
        "ok",
        "trivial",
        "p4",
        "p5",
        "sev4",
        "sev5",
        "sev-4",
        "s4",
        "s5",
    ),
}.items():
    for _word in _words:
        _ALIASES[_word] = _severity

# Topic names end with the severity they carry: `prod-critical`, `prod-slo`, ... (the infrastructure issue names them).
_TOPIC_KEYWORDS: tuple[tuple[str, Severity], ...] = (
    ("critical", Severity.CRITICAL),
    ("warning", Severity.WARNING),
    ("slo", Severity.ERROR),
    ("infrastructure", Severity.ERROR),
)


def parse_severity(value: object) -> Severity | None:
    """`high` -> error, `page` -> critical, `minor` -> warning; None for words we do not know."""
    if not isinstance(value, str):
        return None
    return _ALIASES.get(value.strip().lower())


def severity_for_topic(topic_name: str | None) -> Severity | None:
    """The severity a topic carries by its name's last word, when no route says otherwise."""
    if not topic_name:
        return None
    last = topic_name.lower().replace("_", "-").rsplit("-", 1)[-1]
    for keyword, severity in _TOPIC_KEYWORDS:
        if last == keyword:
            return severity
    return None
