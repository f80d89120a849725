"""Shared text helpers for the renderers: truncation on character boundaries and Slack mrkdwn escaping."""

from __future__ import annotations

import json
import logging
from typing import Any

ELLIPSIS = "…"
logger = logging.getLogger(__name__)


def truncate(text: str, limit: int, *, what: str = "text") -> str:
    """At most `limit` characters, cut with a trailing "…" when it had to be; says so at debug level."""
    if len(text) <= limit:
        return text
    logger.debug("truncated %s from %d to %d characters", what, len(text), limit)
    if limit <= 0:
        return ""
    return text[: limit - 1] + ELLIPSIS


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters, so `<!channel>` or `<@U123>` in an alert can never ping anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit_mrkdwn(text: str, limit: int, *, what: str = "mrkdwn") -> str:
    """Escape, then cut to `limit` characters without splitting an entity such as `&amp;`."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    logger.debug("truncated %s from %d to %d characters", what, len(escaped), limit)
    if limit <= 0:
        return ""
    budget = limit - 1
    used = 0
    out: list[str] = []
    for char in text:
        piece = escape_mrkdwn(char)
        if used + len(piece) > budget:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out) + ELLIPSIS


def one_line(text: str) -> str:
    """Collapse white space, for summaries and headers."""
    return " ".join(text.split())


def encode_json(body: Any) -> bytes:
    """The bytes sent for a body: compact UTF-8 JSON; a lone surrogate becomes "?" rather than invalid UTF-8."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")
