"""PII scrubbing: e-mail addresses, phone numbers and configured patterns, before anything leaves.

Applied to the normal form, before rendering, so every field sent is scrubbed and the renderers' limits still
hold on what remains. Identifiers that must match across messages (dedup keys) are hashed instead of cut.

Every stage is linear in its input, whatever the input: no regular expression here can backtrack over an
unbounded run from more than one starting point. Within one group each distinct string is scrubbed once.

E-mail addresses (`jane@example.com` -> `j***@***`). The scan starts at each `@`, fullwidth or small `@`
(U+FF20, U+FE6B), `%40` or `%2540` (percent-encoded once or twice, as in console and silence links) and reads
outwards:

- the local part is the run of word characters (any script), `.`, `+`, `-` and `_` to the left, including
  percent escapes of those and of UTF-8 bytes; it stops at any other character or escape (`%22`, `%3D`), and
  where Latin letters meet CJK ones (`联系jane@example.com请`: CJK text has no spaces between words); or a
  quoted local part (`"jane doe"@example.com`, at most 64 characters, quoted pairs allowed), masked whole;
- the domain is the run of dot-separated labels to the right (any script; `.`, the fullwidth and ideographic
  full stops and `%2E` / `%252E` as dots; escaped UTF-8 bytes) up to its last label that can be a top-level
  domain (two letters or more, or `xn--`), or an address literal `[10.0.0.1]` / `[IPv6:…]`, or a bare IPv4
  address (`ops@10.0.0.1`; `lodash@4.17.21` is a version, not an address);
- the first character of the local part is kept (unless it is a percent escape or a quote), the rest becomes
  `***@***`.

Phone numbers (-> `[phone]`). Runs of digits joined by at most three separator characters (spaces of every
width, `.`, `-` and every dash, `/`, parentheses) are read as groups; a group glued to a Latin letter or `_`
(hex ids, `p99`, `i-0abc…`, `T03` of a timestamp) is not part of a number. Within a run, dates (`22.11.2026`,
`2026-11-22`, `11/22/2026`), IPv4 addresses and thousands-grouped numbers (`125 000 000`, `12.345.678`) are
never phone numbers. A window of groups is a phone number when it is:

- international: `+` then 8-15 digits (a `(0)` trunk prefix not counted): `+44 20 7946 0958`, `+442079460958`;
- international with `00`: `0044 20 7946 0958` (10-17 digits, at least two groups);
- North American: `[1] (AAA) BBB-CCCC`, `AAA-BBB-CCCC`, `1-800-555-0199` (area code 2-9);
- national with a trunk `0`: first group `0[1-9]` of 2-5 digits, 2-6 groups of two digits or more, 9-12 digits
  (UK `020 7946 0958`, `07700 900123`; France `01 23 45 67 89`, `06.12.34.56.78`; Germany `030 12345678`,
  `(030) 1234567`, `030/12345678`); dots need three groups or more (`0123.4567` is a decimal); the group after
  the trunk group does not start with `0` (a subscriber number never starts with the trunk digit, so
  `010 020 030 040` and `01 02 03 04 05` are lists of zero-padded values); exactly three groups of four digits
  joined by dashes are an AWS account id as the console shows it (`0123-4567-8901`), not a national number
  (the spaced `0123 4567 8901` still is one, and after a phone word any shape is);
- fixed national shapes without a trunk `0`: a Chinese mobile `1[3-9]X XXXX XXXX` (3-4-4) and a Russian number
  with the trunk `8`, `8 (AAA) BBB-CC-DD` (1-3-3-2-2), joined by spaces, dashes or parentheses;
- any 7-15 digits, bare or grouped, right after a phone word (`phone`, `tel`, `tel:`, `call`, `mobile`, `cell`,
  `fax`, `sms`, `Telefon`, `Handy`, `téléphone`, `tél`, `portable`, `电话`, …) and at most a short gap
  (`:`, `=`, `#`, `no.`, `number`, `me at`): `call 5551234567`, `phone=0201234567`, `tel:5551234567`.

An extension right after a number is part of it: `555-123-4567x89`, `555-123-4567 ext. 89`,
`+44 20 7946 0958 extension 123` (`x`, `ext`, `extn`, `extension`, then 1-6 digits that end the word).
Not handled (kept): Chinese and Russian numbers written in other groupings (`13800138000`, `8 495 1234567`)
unless after a phone word or with `+86` / `+7`, and other national formats without a `+`.

So a bare 10- or 12-digit number (byte counts, account ids, epoch times), a dashed account id
(`1234-5678-9012`), a decimal (`1234.5678 ms`), a version, a UUID or an ARN is kept. Numbers written with
`+` for spaces in a query string are not read; percent-encoded ones in URLs are (the URL is scrubbed decoded).

Links. A URL is also scrubbed percent-decoded, segment by segment; a segment that changes is re-encoded, so the
link stays a valid URL. A CloudWatch console link holds the alarm name: when the name carries PII the link
becomes the region's alarm list searched by the longest part of the name left after scrubbing (the one shown
as the title), which still leads to the alarm in one click and sends no PII.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import itertools
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from alertlib.models import AlertGroup, Link, LinkKind

EMAIL_MASK = "***@***"
PHONE_MASK = "[phone]"
PATTERN_MASK = "[redacted]"
_IDENTIFIERS = frozenset({"id", "key", "dedup_key", "message_id"})
_PLAIN = frozenset({int, float, bool})

# --- e-mail addresses ---------------------------------------------------------------------------------------

_CJK = (
    "\u1100-\u11ff\u2e80-\u2fdf\u3040-\u30ff\u3100-\u318f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003ffff"
)
_CJK_LETTER = re.compile(f"[{_CJK}]")
_OTHER_LETTER = re.compile(rf"[^\W\d_{_CJK}]")
_DOTS = "．。｡"
_DOMAIN_CHAR = r"(?:[^\W_]|[\-\u0300-\u036f]|%(?:25)?[89A-Fa-f][0-9A-Fa-f])"
_DOT = rf"(?:[.{_DOTS}]|%(?:25)?2[Ee])"  # a dot between labels, also percent-encoded once or twice
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\w)"
# An `@` (or a look-alike, or one percent-encoded once or twice) between a local-part character (or the closing
# quote of a quoted one) and a label followed by a dot, or an IPv4 address: the filter that keeps the Python work
# to the places where an address can be.
_MARKER = re.compile(
    r'(?:(?<=[\w.+\-"])|(?<=%[0-9A-Fa-f]{2}))(?:[@\uff20\ufe6b]|%(?:25)?40)'
    rf"(?=\[|(?:{_DOMAIN_CHAR}++{_DOT})+(?:[^\W\d_]{{2}}|xn--|%)|{_IPV4})"
)
# Percent escapes allowed in a local part: + - . 0-9 A-Z _ a-z and UTF-8 bytes, written reversed ("%41" -> "14%").
_ESC_REV = r"(?:[BbDdEe]2|[0-9]3|[1-9A-Fa-f][46]|[0-9Aa][57]|[Ff]5|[0-9A-Fa-f][89A-Fa-f])%"
# The local part read leftwards from the marker, on the reversed text: possessive, so each run is read once.
_LOCAL_REV = re.compile(rf"(?:{_ESC_REV}(?:52%)?|(?![0-9A-Fa-f]{{2}}%|[0-9A-Fa-f]{{2}}52%)[\w.+\-\u0300-\u036f])*+")
# A quoted local part read leftwards from its closing quote, on the reversed text: at most 64 characters of
# printable text and quoted pairs (`\\"` reversed is `"\\`), possessive, so it is read once.
_QUOTED_REV = re.compile(r'"(?:[^"\\\x00-\x1f\x7f]|["\\]\\){1,64}+"')
_DOMAIN = re.compile(rf"\[(?:IPv6:)?[0-9A-Fa-f:.]{{2,45}}\]|(?:{_DOMAIN_CHAR}|{_DOT})*+")
_IPV4_DOMAIN = re.compile(_IPV4)
_LABEL_SPLIT = re.compile(_DOT)
_ESCAPED_LABEL = re.compile(r"(?:%(?:25)?[89A-Fa-f][0-9A-Fa-f])+")
_LITERAL = re.compile(r"\[(?:IPv6:[0-9A-Fa-f:.]*[0-9A-Fa-f]|\d{1,3}(?:\.\d{1,3}){3})\]")


def _scrub_emails(text: str) -> str:
    pieces: list[str] = []
    done = 0  # text[:done] is settled
    reversed_text = ""
    for marker in _MARKER.finditer(text):
        at, after = marker.span()
        if at < done:
            continue
        if not reversed_text:
            reversed_text = text[::-1]
        if text[at - 1] == '"':
            quoted = _QUOTED_REV.match(reversed_text, len(text) - at, len(text) - done)
            local = quoted.end() - quoted.start() if quoted else 0
        else:
            local = _local_length(reversed_text, len(text) - at, at - done)
        if not local:
            continue
        domain = _domain_length(text, after)
        if not domain:
            continue
        start = at - local
        first = text[start] if text[start] not in '%"' else ""
        pieces += (text[done:start], first, EMAIL_MASK)
        done = after + domain
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _local_length(reversed_text: str, position: int, limit: int) -> int:
    """The length of the local part that ends at `position` of the reversed text (0: none)."""
    run = _LOCAL_REV.match(reversed_text, position, position + limit)
    assert run is not None  # a starred pattern always matches
    local = _same_script(run.group(0))
    return len(local.rstrip("."))  # reversed: a local part does not start with a dot


def _domain_length(text: str, position: int) -> int:
    run = _DOMAIN.match(text, position)
    assert run is not None
    domain = run.group(0)
    if domain.startswith("["):
        return len(domain) if _LITERAL.fullmatch(domain) else 0
    if domain[:1].isdigit():
        ipv4 = _ipv4_length(text, position)
        if ipv4 == len(domain):
            return ipv4  # the whole run is an IPv4 address: no label to look for
    domain = _same_script(domain)
    starts, ends = [0], []  # where each label starts and ends: a dot may be three characters (`%2E`)
    for dot in _LABEL_SPLIT.finditer(domain):
        ends.append(dot.start())
        starts.append(dot.end())
    ends.append(len(domain))
    labels = [domain[start:end] for start, end in zip(starts, ends, strict=True)]
    if "" in labels:
        labels = labels[: labels.index("")]
    for last in range(len(labels) - 1, 0, -1):  # the right-most label that can end a domain
        if _is_tld(labels[last]):
            return ends[last]
        # `example.com1-800-…`, `example.org22.11.2026`, `example.com³`: text glued after a top-level domain
        letters = sum(1 for _ in itertools.takewhile(str.isalpha, labels[last]))
        if letters >= 2 and any(c.isalpha() for c in labels[last - 1]):
            return starts[last] + letters
    return _ipv4_length(text, position)


def _ipv4_length(text: str, position: int) -> int:
    """The length of the IPv4 address at `position` (`ops@10.0.0.1`), or 0."""
    ipv4 = _IPV4_DOMAIN.match(text, position)
    if ipv4 and all(int(octet) <= 255 for octet in ipv4.group(0).split(".")):
        return ipv4.end() - position
    return 0


def _is_tld(label: str) -> bool:
    if label.isalpha() and len(label) >= 2:
        return True
    return label[:4].lower() == "xn--" or bool(_ESCAPED_LABEL.fullmatch(label))


def _same_script(run: str) -> str:
    """The start of `run` up to where Latin letters meet CJK ones (CJK text puts no space between words)."""
    cjk = _CJK_LETTER.search(run)
    other = _OTHER_LETTER.search(run)
    if cjk is None or other is None:
        return run
    return run[: max(cjk.start(), other.start())]


# --- phone numbers ------------------------------------------------------------------------------------------

_SPACES = " \u00a0\u2007\u2009\u202f"
_DASHES = "\\-\u2010-\u2015\u2212\ufe63\uff0d"
# A run of digit groups and separators, at least six characters from its first digit (a phone has seven digits),
# that does not start inside a word or a number: a failed start is never retried inside the same run.
_CHAIN = re.compile(rf"(?<![^\W{_CJK}]|[+(])(?:\+[{_SPACES}]?)?\(?\d[\d(){_SPACES}{_DASHES}./]{{5,}}+")
_SEPARATOR = re.compile(rf"[{_SPACES}]*(?:([{_DASHES}])|([./]))?[{_SPACES}]*")
# Could the run hold a number that needs no `+` and no phone word? A trunk `0`, a North American shape, a Chinese
# mobile or a Russian trunk `8`.
_MAYBE = re.compile(
    r"(?<!\d)0|(?<!\d)[2-9]\d\d\D{0,3}\d{3}\D{1,3}\d{4}(?!\d)|(?<!\d)1[3-9]\d\D{1,3}\d{4}\D{1,3}\d{4}(?!\d)"
    r"|(?<!\d)8\D{1,3}\d{3}\D{1,3}\d{3}\D{1,3}\d\d\D{1,3}\d\d(?!\d)"
)
_PHONE_WORD = re.compile(
    r"(?:(?<![^\W\d_])(?:telephone|t[eé]l[eé]phone|telefon[oe]?|tel[eé]fono|tel|t[eé]l|phone|call|mobile|mobil"
    r"|mob|cellphone|cell|fax|sms|whatsapp|handy|portable|gsm)|电话|電話|手机|手機|携帯|전화)"
    r"\.?(?:[\s:=#.\-]{0,3}(?:no|nr|n°|num|number|nummer|numéro)\.?)?"
    r"(?:[\s:=#.\-]{0,3}(?:me|us)\s+(?:at|on))?[\s:=#.\-]{0,4}\Z",
    re.I,
)
_GLUE = re.compile(rf"[^\W{_CJK}]")  # a word character that is not CJK: a number glued to it is part of a word
# An extension right after a number is part of it: `x89`, ` ext. 89`, ` extension 89`.
_EXTENSION = re.compile(rf"[{_SPACES}]{{0,2}}(?:x|ext|extn|extension)\.?:?[{_SPACES}]{{0,2}}\d{{1,6}}(?!\w)", re.I)


def _scrub_phones(text: str) -> str:
    spans: list[tuple[int, int]] = []
    for chain in _CHAIN.finditer(text):
        spans += _phones_in(text, chain.start(), chain.group(0))
    if not spans:
        return text
    pieces: list[str] = []
    done = 0
    for start, end in spans:
        pieces += (text[done:start], PHONE_MASK)
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


class _Groups:
    """The digit groups of one run, as parallel lists: where each starts and ends (parentheses included), its
    digits, whether it is written in parentheses, and the separator before it: "" after a parenthesis, " ", "-",
    ".", "/", or None where the run is cut (no phone number spans it)."""

    __slots__ = ("digits", "ends", "kinds", "parens", "starts")
    _PART = re.compile(r"([^\d(]*)(\(?)(\d+)(\)?)")

    def __init__(self, start: int, chain: str) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.digits: list[str] = []
        self.kinds: list[str | None] = []
        self.parens: list[bool] = []
        position = start
        closed = ""
        for separator, opened, digits, close in self._PART.findall(chain):
            position += len(separator)
            self.kinds.append(_kind(separator, bool(closed or opened)) if self.starts else "")
            self.starts.append(position)
            position += len(opened) + len(digits) + len(close)
            self.ends.append(position)
            self.digits.append(digits)
            self.parens.append(bool(opened and close))
            closed = close


@functools.lru_cache(maxsize=256)
def _kind(separator: str, paren: bool) -> str | None:
    if not separator:
        return "" if paren else None
    if len(separator) > 3:
        return None
    match = _SEPARATOR.fullmatch(separator)
    if match is None:
        return None
    if match.group(1):
        return "-"
    return match.group(2) or " "


def _phones_in(text: str, start: int, chain: str) -> list[tuple[int, int]]:
    plus = chain[0] == "+"
    context = _PHONE_WORD.search(text, max(0, start - 40), start) is not None
    if not (plus or context or _MAYBE.search(chain)):
        return []
    groups = _Groups(start, chain)
    last = len(groups.digits)
    if _glued_after(text, groups.ends[-1]) and not _EXTENSION.match(text, groups.ends[-1]):
        last -= 1
    taken = _not_numbers(groups, last)
    found: list[tuple[int, int]] = []
    index = 0
    while index < last:
        end = -1 if taken[index] else _phone_at(groups, taken, index, last, plus=plus, context=context)
        if end < 0:
            index += 1
            continue
        stop = groups.ends[end]
        extension = _EXTENSION.match(text, stop) if end == len(groups.digits) - 1 else None
        found.append((start if index == 0 and plus else groups.starts[index], extension.end() if extension else stop))
        index = end + 1
        plus = context = False
    return found


def _glued_after(text: str, end: int) -> bool:
    if end >= len(text):
        return False
    after = text[end]
    if _GLUE.match(after):
        return True
    return after == ":" and end + 1 < len(text) and text[end + 1].isdigit()  # 12:30


def _not_numbers(groups: _Groups, last: int) -> list[bool]:
    """Which groups belong to a date, an IPv4 address or a thousands-grouped number: never a phone number."""
    taken = [False] * len(groups.digits)
    kinds, digits, parens = groups.kinds, groups.digits, groups.parens

    def alone(i: int, j: int, kind: str) -> bool:  # groups i..j-1 are not part of a longer run of `kind`
        return (i == 0 or kinds[i] != kind) and (j >= last or kinds[j] != kind)

    for i in range(last - 2):
        kind = kinds[i + 1]
        if kind not in (".", "-", "/") or kinds[i + 2] != kind:
            continue
        if alone(i, i + 3, kind) and _is_date(digits[i], digits[i + 1], digits[i + 2]):
            taken[i : i + 3] = [True] * 3
        ipv4 = i + 3 < last and kind == "." and kinds[i + 3] == "." and alone(i, i + 4, ".")
        if ipv4 and all(len(d) <= 3 and int(d) <= 255 for d in digits[i : i + 4]):
            taken[i : i + 4] = [True] * 4
    i = 0
    while i < last - 2:  # one separator, 1-3 digits then groups of exactly three: 125 000 000, 12.345.678
        kind = kinds[i + 1]
        j = i + 1
        while j < last and kinds[j] == kind and len(digits[j]) == 3:
            j += 1
        grouped = kind in (" ", ".") and j - i >= 3 and len(digits[i]) <= 3 and digits[i][0] != "0"
        if grouped and (i == 0 or kinds[i] != kind) and (j >= last or kinds[j] is None) and not any(parens[i:j]):
            taken[i:j] = [True] * (j - i)
        i = j if j - i >= 2 else i + 1
    return taken


def _is_date(a: str, b: str, c: str) -> bool:
    if len(a) == 4 and len(b) <= 2 and len(c) <= 2:
        return 1 <= int(b) <= 12 and 1 <= int(c) <= 31
    if len(a) <= 2 and len(b) <= 2 and len(c) in (2, 4):
        day_month = 1 <= int(a) <= 31 and 1 <= int(b) <= 12
        month_day = 1 <= int(a) <= 12 and 1 <= int(b) <= 31
        return day_month or month_day
    return False


def _phone_at(groups: _Groups, taken: list[bool], index: int, last: int, *, plus: bool, context: bool) -> int:
    """The last group of the longest phone number that starts at group `index`, or -1."""
    digits, kinds = groups.digits, groups.kinds
    first = digits[index]
    if plus or context:
        low, high = (8 if plus and not context else 7), 15
    elif first[:2] == "00" and first[2:3] not in ("", "0"):
        low, high = 10, 17  # 0044 20 7946 0958
    elif first[0] == "0" and first[1:2] not in ("", "0") and len(first) <= 5:
        if index + 1 < last and digits[index + 1][0] == "0":
            return -1  # a subscriber number never starts with the trunk 0: 010 020 030 is a list of values
        low, high = 9, 12  # a trunk prefix: national numbers of the UK, France, Germany, ...
    else:
        return max(_north_american(groups, taken, index, last), _fixed_shape(groups, taken, index, last))
    best = -1
    total = 0
    short = slash = False
    for end in range(index, min(last, index + 8)):
        kind = kinds[end] if end > index else ""
        if taken[end] or kind is None:
            break
        slash = slash or kind == "/"
        group = digits[end]
        if not (plus and groups.parens[end] and group == "0"):  # the (0) of "+44 (0)20 ..." is not dialled
            total += len(group)
        short = short or len(group) < 2
        if total > high:
            break
        count = end - index + 1
        if total < low or (count == 2 and kind == "."):  # 1234.5678 is a decimal
            continue
        if high == 12 and not (count >= 2 and not short and (not slash or count == 2)):
            continue
        if high == 12 and count == 3 and _account_id(groups, index):
            continue
        if high == 17 and count < 2:
            continue
        best = end
    return best


def _account_id(groups: _Groups, index: int) -> bool:
    """Groups `index`..`index + 2` are 4-4-4 digits joined by dashes: an AWS account id as the console shows it."""
    digits, kinds = groups.digits, groups.kinds
    return all(len(d) == 4 for d in digits[index : index + 3]) and kinds[index + 1] == kinds[index + 2] == "-"


def _fixed_shape(groups: _Groups, taken: list[bool], index: int, last: int) -> int:
    """A Chinese mobile `1[3-9]X XXXX XXXX` or a Russian `8 (AAA) BBB-CC-DD`: the index of its last group, or -1."""
    digits, kinds = groups.digits, groups.kinds
    first = digits[index]
    if len(first) == 3 and first[0] == "1" and first[1] in "3456789":
        shape: tuple[int, ...] = (3, 4, 4)
    elif first == "8":
        shape = (1, 3, 3, 2, 2)
    else:
        return -1
    end = index + len(shape) - 1
    if end >= last or tuple(len(d) for d in digits[index : end + 1]) != shape or any(taken[index : end + 1]):
        return -1
    if any(kinds[k] in (None, "/", ".") for k in range(index + 1, end + 1)):
        return -1
    return end


def _north_american(groups: _Groups, taken: list[bool], index: int, last: int) -> int:
    """`[1] (AAA) BBB-CCCC`: the index of CCCC, or -1."""
    digits, kinds = groups.digits, groups.kinds
    area = index + 1 if digits[index] == "1" else index
    if area + 2 >= last or len(digits[area]) != 3 or digits[area][0] not in "23456789":
        return -1
    if len(digits[area + 1]) != 3 or len(digits[area + 2]) != 4:
        return -1
    if any(taken[index : area + 3]) or any(kinds[k] in (None, "/") for k in range(index + 1, area + 3)):
        return -1
    return area + 2


# --- text, URLs and groups ----------------------------------------------------------------------------------


def redact_text(text: str, patterns: tuple[re.Pattern[str], ...] = ()) -> str:
    """`jane@example.com` -> `j***@***`, `+1 555 123 4567` -> `[phone]`, each pattern's match -> `[redacted]`."""
    if len(text) < 6 and not patterns:
        return text  # too short for an address or a number of seven digits
    for pattern in patterns:
        text = pattern.sub(PATTERN_MASK, text)
    return _scrub_phones(_scrub_emails(text))


_URL_SEGMENT = re.compile(r"[^?&#=/;]+")


def redact_url(url: str, patterns: tuple[re.Pattern[str], ...] = ()) -> str:
    """A URL scrubbed as text and, segment by segment, percent-decoded; still a valid URL."""
    url = redact_text(url, patterns)
    if "%" not in url:
        return url
    return _URL_SEGMENT.sub(lambda m: _redact_segment(m.group(0), patterns), url)


def _redact_segment(segment: str, patterns: tuple[re.Pattern[str], ...]) -> str:
    if "%" not in segment:
        return segment
    decoded = unquote(segment, errors="surrogateescape")
    scrubbed = redact_text(decoded, patterns)
    if scrubbed == decoded:
        return segment
    return quote(scrubbed, safe="*@", errors="surrogateescape")


_CONSOLE_ALARM = re.compile(r"(?P<base>https://[^#?]+/cloudwatch/home\?region=[a-z0-9-]+)#alarmsV2:alarm/(?P<name>.*)")
_MASKS = re.compile(r"\*\*\*@\*\*\*|\[phone\]|\[redacted\]")


def _redact_link(link: Link, patterns: tuple[re.Pattern[str], ...], memo: dict[str, str]) -> Link:
    """The link scrubbed; a console link whose alarm name carries PII searches the alarm list instead."""
    text = _cached(link.text, patterns, memo)
    console = _CONSOLE_ALARM.fullmatch(link.url) if link.kind is LinkKind.CONSOLE else None
    if console is None:
        url = _cached(link.url, patterns, memo)
    else:
        name = unquote(console.group("name"), errors="surrogateescape")
        scrubbed = _cached(name, patterns, memo)
        url = link.url if scrubbed == name else console.group("base") + _alarm_search(scrubbed)
    if url == link.url and text == link.text:
        return link
    return dataclasses.replace(link, url=url, text=text)


def _alarm_search(scrubbed_name: str) -> str:
    """The console's alarm list searched by the longest piece of the scrubbed name (a substring of the name)."""
    term = max((piece.strip() for piece in _MASKS.split(scrubbed_name)), key=len, default="")
    if not term:
        return "#alarmsV2:"
    return "#alarmsV2:?~(search~'" + _jsurl(term) + ")"


def _jsurl(value: str) -> str:
    """The console's state encoding of a string: `*7c` for `|`, `**20ac` for `€`, `!` for `$`."""
    out: list[str] = []
    for char in value:
        code = ord(char)
        if char.isascii() and (char.isalnum() or char in "_-."):
            out.append(char)
        elif char == "$":
            out.append("!")
        elif code < 0x100:
            out.append(f"*{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"**{code:04x}")
        else:  # outside the BMP: the browser's string is UTF-16
            code -= 0x10000
            out.append(f"**{0xD800 + (code >> 10):04x}**{0xDC00 + (code & 0x3FF):04x}")
    return "".join(out)


def redact_group(group: AlertGroup, patterns: tuple[re.Pattern[str], ...] = ()) -> AlertGroup:
    """The same group with every string that can be sent scrubbed; dedup keys hashed where they held PII.

    Each distinct string is scrubbed once per group, however many alerts and fields repeat it."""
    redacted: AlertGroup = _redact(group, patterns, {})
    return redacted


def _cached(text: str, patterns: tuple[re.Pattern[str], ...], memo: dict[str, str]) -> str:
    found = memo.get(text)
    if found is None:
        found = memo[text] = _redact_string(text, patterns)
    return found


def _redact_string(text: str, patterns: tuple[re.Pattern[str], ...]) -> str:
    if text.startswith(("https://", "http://")) and "%" in text:
        return redact_url(text, patterns)
    return redact_text(text, patterns)


def _redact(value: Any, patterns: tuple[re.Pattern[str], ...], memo: dict[str, str]) -> Any:
    kind = type(value)
    if kind is str:
        return _cached(value, patterns, memo)
    if kind is tuple:
        return tuple(_cached(v, patterns, memo) if type(v) is str else _redact(v, patterns, memo) for v in value)
    if kind is dict:
        return {
            _cached(str(k), patterns, memo): _cached(v, patterns, memo)
            if type(v) is str
            else _redact(v, patterns, memo)
            for k, v in value.items()
        }
    if kind is Link:
        return _redact_link(value, patterns, memo)
    names = _field_names(kind)  # type: ignore[arg-type]
    if names is None:
        return value  # numbers, enums, datetimes, None: nothing to scrub
    changes: dict[str, Any] = {}
    for name in names:
        current = getattr(value, name)
        if type(current) is str:
            new = _cached(current, patterns, memo)
            if name in _IDENTIFIERS and new != current:
                new = _hash(current)
        elif current is None or type(current) in _PLAIN:
            continue
        else:
            new = _redact(current, patterns, memo)
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
