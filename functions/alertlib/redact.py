"""PII scrubbing: e-mail addresses, phone numbers and configured patterns, before anything leaves.

Applied to the normal form, before rendering, so every field sent is scrubbed and the renderers' limits still
hold on what remains. Identifiers that must match across messages (dedup keys) are hashed instead of cut.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from alertlib.models import AlertGroup

_EMAIL = re.compile(r"(?<![\w.%+-])([A-Za-z0-9])[A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
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


def redact_text(text: str, patterns: tuple[re.Pattern[str], ...] = ()) -> str:
    """`jane@example.com` -> `j***@***`, `+1 555 123 4567` -> `[phone]`, each pattern's match -> `[redacted]`."""
    if not text:
        return text
    for pattern in patterns:
        text = pattern.sub(PATTERN_MASK, text)
    if "@" in text:
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
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, str):
        return redact_text(value, patterns)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            current = getattr(value, f.name)
            if f.name in _IDENTIFIERS and isinstance(current, str):
                new = current if redact_text(current, patterns) == current else _hash(current)
            else:
                new = _redact(current, patterns)
            if new is not current:
                changes[f.name] = new
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, Mapping):
        return {redact_text(str(k), patterns): _redact(v, patterns) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_redact(v, patterns) for v in value)
    return value


def _hash(identifier: str) -> str:
    return "redacted:" + hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()
