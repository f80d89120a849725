"""Shared text helpers for the renderers: truncation on character boundaries, Slack mrkdwn escaping, URLs that
can be sent, counts that stay short, and JSON cut to a byte budget. Each says (at debug level) when it cut."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from alertlib.models import Alert

ELLIPSIS = "…"
MAX_COUNT = 999_999_999  # parse bounds counts below 10**9; a larger one is shown as "999999999+"
logger = logging.getLogger(__name__)

# RFC 3986 reserved and unreserved characters (letters and digits are always kept) and "%" for escapes already
# made. Everything else, `|`, `<`, `>`, quotes, spaces, controls and non-ASCII, is percent-encoded: the URL a
# browser would request anyway, and one that cannot end a Slack `<url|text>` link early.
_URL_KEEP = "!#$%&'()*+,-./:;=?@[]_~"
_MIN_SHARE = 64  # bytes: no part of a JSON value is cut below this; past it, entries are left out instead


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


_QUOTE = re.compile(r"^>", re.M)
_ESCAPED_QUOTE = re.compile(r"^&gt;", re.M)
QUOTE_MARK = "\u203a"  # `›`: what a line starting with `>` shows instead (Slack would draw it as a block quote)


def no_quote(text: str) -> str:
    """A line starting with `>` is a block quote in Slack: the reader loses the `>` (a comparison, a prompt). Such a
    line starts with `QUOTE_MARK` instead; works on escaped (`&gt;`) and raw text alike, and never lengthens it."""
    if ">" not in text and "&gt;" not in text:
        return text
    return _ESCAPED_QUOTE.sub(QUOTE_MARK, _QUOTE.sub(QUOTE_MARK, text))


def fit_mrkdwn(text: str, limit: int, *, what: str = "mrkdwn") -> str:
    """Escape, then cut to `limit` characters without splitting an entity such as `&amp;`; no line starts with a
    quote (`no_quote`)."""
    text = no_quote(text)
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


_ALARM_ARN_PREFIX = re.compile(r"\barn:aws[\w-]*:cloudwatch:[\w-]*:\d*:alarm:")


def alarm_names(text: str) -> str:
    """Alarms named, not given by ARN: `arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh` becomes
    `ServerCpuTooHigh` (composite rules and reasons name their children by ARN; the account and region are the
    alert's own, shown once elsewhere)."""
    return _ALARM_ARN_PREFIX.sub("", text) if "arn:" in text else text


def one_line(text: str) -> str:
    """Collapse white space, for summaries and headers."""
    return " ".join(text.split())


def safe_url(url: str | None, limit: int, *, what: str = "URL") -> str | None:
    """An http(s) URL as it can be sent: percent-encoded where RFC 3986 wants it (so never `|`, `<`, `>`, quotes
    or spaces), or None when it is not http(s) or longer than `limit` once encoded. A URL is never cut: a cut URL
    is a broken link, so a long one is left out."""
    if not url:
        return None
    head = url[:8].lower()
    rest = url[8:] if head == "https://" else url[7:] if head.startswith("http://") else ""
    if not rest or rest[0] in "/?#":
        return None
    if len(url) > limit:  # encoding only lengthens it
        logger.debug("left out %s of %d characters (limit %d)", what, len(url), limit)
        return None
    encoded = quote(url, safe=_URL_KEEP, errors="replace")
    if len(encoded) > limit:
        logger.debug("left out %s of %d characters encoded (limit %d)", what, len(encoded), limit)
        return None
    return encoded


def mrkdwn_link(url: str, text: str) -> str:
    """`<url|text>` for a URL from `safe_url`; the visible text escaped like any other text."""
    return f"<{escape_mrkdwn(url)}|{escape_mrkdwn(text)}>"


MAX_SERVICE = 60
_SERVICE_LABELS = ("service", "Service")
_SERVICE_FALLBACK_LABELS = ("job", "app", "namespace")


def service_name(alert: Alert) -> str:
    """The service an alert belongs to, for counts and grouping in digests and storm incidents: its `service`
    label or tag, else its metric's namespace without `AWS/` (`RDS`, `ECS`), else its `job`, `app` or `namespace`
    label, else "other". One line of at most `MAX_SERVICE` characters, read from a bounded prefix (constant time
    per alert, whatever the alert carries)."""
    labels = alert.labels
    found = next((labels[name] for name in _SERVICE_LABELS if labels.get(name)), None)
    if found is None and alert.metric is not None and alert.metric.namespace:
        namespace = alert.metric.namespace
        found = namespace[4:] if namespace.startswith("AWS/") and len(namespace) > 4 else namespace
    if found is None:
        found = next((labels[name] for name in _SERVICE_FALLBACK_LABELS if labels.get(name)), None)
    return short_line(found or "", MAX_SERVICE) or "other"


def short_line(text: str, limit: int) -> str:
    """`one_line` of a long text, cut to `limit` characters, reading only a bounded prefix of it."""
    prefix = limit * 4 + 64
    line = one_line(text[:prefix])
    if len(text) > prefix and len(line) < limit:  # white space ate the prefix: still say it was cut
        return line + ELLIPSIS
    return truncate(line, limit)


def plural(count: int, word: str) -> str:
    """`1 alert`, `412 alerts` (the count through `format_count`)."""
    return f"{format_count(count)} {word}{'' if count == 1 else 's'}"


def format_count(count: int) -> str:
    """A count in digits, at most ten characters: never the thousands of digits a hostile payload can carry."""
    if count <= 0:
        return "0"
    return str(count) if count <= MAX_COUNT else f"{MAX_COUNT}+"


def clip_count(count: int) -> int:
    """A count for a JSON body: between 0 and `MAX_COUNT` (a 5,000-digit integer cannot even be encoded)."""
    return min(max(count, 0), MAX_COUNT)


def encode_json(body: Any) -> bytes:
    """The bytes sent for a body: compact UTF-8 JSON; a lone surrogate becomes "?" rather than invalid UTF-8."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def json_size(value: Any) -> int:
    """Bytes of `value` as `encode_json` writes it."""
    return len(encode_json(value))


def fit_json(value: Any, limit: int, *, what: str = "JSON") -> Any:
    """`value` within `limit` bytes of `encode_json`, largest parts cut first: whatever fits is kept whole, the
    largest values share what is left (strings end with "…"), and an object or list that cannot keep every entry
    keeps the first ones and says how many it left out. Linear in the size of `value` (times its depth)."""
    size = json_size(value)
    if size <= limit:
        return value
    logger.debug("cut %s from %d to %d bytes", what, size, limit)
    return _fit(value, size, limit)


def _fit(value: Any, size: int, limit: int) -> Any:
    if size <= limit:
        return value
    if isinstance(value, str):
        return _fit_string(value, limit)
    if isinstance(value, dict):
        return _fit_entries(list(value.items()), limit, is_object=True)
    if isinstance(value, list | tuple):
        return _fit_entries(list(enumerate(value)), limit, is_object=False)
    return None  # a number or a boolean larger than its share: only with a share under 4 bytes


def _fit_string(text: str, limit: int) -> str:
    """The longest prefix that, with "…", encodes within `limit` bytes (a binary search over the prefix)."""
    low, high = 0, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if json_size(text[:middle] + ELLIPSIS) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low] + ELLIPSIS if low or json_size(ELLIPSIS) <= limit else ""


def _left_out(count: int, *, is_object: bool) -> tuple[str, str]:
    return (ELLIPSIS, f"{count} more not shown") if is_object else ("", f"{ELLIPSIS} {count} more not listed")


def _fit_entries(entries: list[tuple[Any, Any]], limit: int, *, is_object: bool) -> Any:
    """An object's or a list's entries within `limit`: a prefix that can keep `_MIN_SHARE` bytes of each value,
    then a fair share of the room for each value, smallest first (so the small ones stay whole)."""
    heads = [json_size(str(key)) + 1 if is_object else 0 for key, _ in entries]  # `"key":`
    sizes = [json_size(value) for _, value in entries]
    marker = _left_out(len(entries), is_object=is_object)
    marker_cost = (json_size(marker[0]) + 1 if is_object else 0) + json_size(marker[1]) + 1
    kept, used = 0, 2  # the brackets
    for index in range(len(entries)):
        need = heads[index] + min(sizes[index], _MIN_SHARE) + (1 if index else 0)
        reserve = marker_cost if index + 1 < len(entries) else 0
        if used + need + reserve > limit:
            break
        kept, used = index + 1, used + need
    dropped = len(entries) - kept
    room = limit - 2 - sum(heads[:kept]) - max(kept - 1, 0) - (marker_cost if dropped else 0)
    if room < 0:
        return {} if is_object else []
    values: dict[int, Any] = {}
    order = sorted(range(kept), key=sizes.__getitem__)
    for position, index in enumerate(order):
        share = room // (kept - position)
        value = _fit(entries[index][1], sizes[index], share)
        values[index] = value
        room -= sizes[index] if value is entries[index][1] else json_size(value)
    if is_object:
        fitted = {str(entries[i][0]): values[i] for i in range(kept)}
        if dropped:
            key, note = _left_out(dropped, is_object=True)
            fitted[key] = note
        return fitted
    items = [values[i] for i in range(kept)]
    if dropped:
        items.append(_left_out(dropped, is_object=False)[1])
    return items
