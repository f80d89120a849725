"""PII scrubbing: e-mail addresses, phone numbers and configured patterns, before anything leaves.

Applied to the normal form, before rendering, so every field sent is scrubbed and the renderers' limits still
hold on what remains. Identifiers that must match across messages (dedup keys) are hashed instead of cut.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from alertlib.models import AlertGroup

_EMAIL = re.compile(
    r"(?:(?<=%[0-9A-Fa-f]{2})|(?<![\w.%+-]))([A-Za-z0-9])[A-Za-z0-9._%+-]*(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b",
    re.I,
)  # "%40": the address inside a percent-encoded URL (console links, silence filters)
# International (+country) or grouped national numbers; the digit count (8-15) is checked in _phone.
_PHONE = re.compile(
    r"(?<![\w.+/:=-])"
    r"(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d[\d .-]{4,16}\d"
    r"|\(\d{2,4}\)[ .-]?\d{2,4}[ .-]?\d{3,4}"
    r"|\d{2,4}[ .-]\d{2,4}[ .-]\d{3,4})"
    r"(?![\w.:/-]?\w)"
)
EMAIL_MASK = r"\1***@***"
PHONE_MASK = "[phone]"
PATTERN_MASK = "[redacted]"
_IDENTIFIERS = frozenset({"id", "key", "dedup_key", "message_id"})
_PLAIN = frozenset({int, float, bool})


def redact_text(text: str, patterns: tuple[re.Pattern[str], ...] = ()) -> str:
    """`jane@example.com` -> `j***@***`, `+1 555 123 4567` -> `[phone]`, each pattern's match -> `[redacted]`."""
    if len(text) < 6 and not patterns:
        return text  # too short for an address or a number of 8 digits
    for pattern in patterns:
        text = pattern.sub(PATTERN_MASK, text)
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    return _PHONE.sub(_phone, text)


def _phone(match: re.Match[str]) -> str:
    digits = sum(c.isdigit() for c in match.group(0))
    return PHONE_MASK if 8 <= digits <= 15 else match.group(0)


def redact_group(group: AlertGroup, patterns: tuple[re.Pattern[str], ...] = ()) -> AlertGroup:
    """The same group with every string that can be sent scrubbed; dedup keys hashed where they held PII."""
    redacted: AlertGroup = _redact(group, patterns)
    return redacted


def _redact(value: Any, patterns: tuple[re.Pattern[str], ...]) -> Any:
    kind = type(value)
    if kind is str:
        return redact_text(value, patterns)
    if kind is tuple:
        return tuple(redact_text(v, patterns) if type(v) is str else _redact(v, patterns) for v in value)
    if kind is dict:
        return {
            redact_text(str(k), patterns): redact_text(v, patterns) if type(v) is str else _redact(v, patterns)
            for k, v in value.items()
        }
    names = _field_names(kind)  # type: ignore[arg-type]
    if names is None:
        return value  # numbers, enums, datetimes, None: nothing to scrub
    changes: dict[str, Any] = {}
    for name in names:
        current = getattr(value, name)
        if type(current) is str:
            new = redact_text(current, patterns)
            if name in _IDENTIFIERS and new != current:
                new = _hash(current)
        elif current is None or type(current) in _PLAIN:
            continue
        else:
            new = _redact(current, patterns)
        if new is not current and new != current:
            changes[name] = new
    return dataclasses.replace(value, **changes) if changes else value


@functools.cache
def _field_names(kind: type) -> tuple[str, ...] | None:
    if dataclasses.is_dataclass(kind) and not issubclass(kind, enum.Enum):
        return tuple(f.name for f in dataclasses.fields(kind))
    if issubclass(kind, Mapping) or (issubclass(kind, str) and not issubclass(kind, enum.Enum)):
        raise TypeError(f"cannot scrub a {kind.__name__}: give plain dicts and strings")
    return None


def _hash(identifier: str) -> str:
    return "redacted:" + hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()
