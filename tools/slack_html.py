"""A Slack message drawn as Slack draws it, as one self-contained HTML page (for `tools.preview --html` and
`make screenshots`). No network: no fonts, images or scripts are fetched.

Drawn: the header, sections (text and fields, two columns), context, actions (buttons), dividers and images, the
colour bar of attachments (their blocks too, and the legacy title, text and fields), and mrkdwn as Slack reads it:
`*bold*`, `_italic_`, `~strike~`, `` `code` `` and code blocks, `<url|text>` links, `<@U…>` and `<!subteam^S…>`
mentions, `<!date^…|fallback>`, the entities `&lt; &gt; &amp;`, and a line starting with `&gt;` as a block quote.
Under it, a phone's lock screen: the Slack push text (the message's `text`, about 110 characters shown) and the
PagerDuty summaries. Every piece of text is escaped for HTML: alert text is hostile.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

LOCK_SCREEN = 110  # characters of a notification a phone's lock screen shows (two lines)
BLOCK_KIT_BUILDER = "https://app.slack.com/block-kit-builder/#"

_PLACEHOLDER = re.compile("\ue000(\\d+)\ue001")
_ANGLE = re.compile(r"<([^<>\n]*)>")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Slack's emphasis: the marker next to a word character on the inside, not on the outside.
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])")
_SAFE_HREF = re.compile(r"^(https?://|mailto:)", re.IGNORECASE)


def slack_unescape(text: str) -> str:
    """Slack's three entities back to characters (what the reader sees)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


class _Inline:
    """One mrkdwn line's spans set aside (links, mentions, code) while emphasis is applied to the rest."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    def keep(self, fragment: str) -> str:
        self.saved.append(fragment)
        return f"\ue000{len(self.saved) - 1}\ue001"

    def restore(self, text: str) -> str:
        """Every placeholder back, also one kept inside another span (`<`x`>`): each pass takes one level."""
        for _ in range(len(self.saved) + 1):
            if "\ue000" not in text:
                break
            text = _PLACEHOLDER.sub(lambda m: self.saved[int(m.group(1))], text)
        return text


def _angle(token: str) -> str:
    """`<…>`: a link, a mention, a channel, a date; the visible part escaped."""
    target, _, label = token.partition("|")
    if target.startswith("@"):
        return f'<span class="mention">@{_escape(slack_unescape(label or target[1:]))}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{_escape(slack_unescape(label or target[1:]))}</span>'
    if target.startswith("!subteam^"):
        name = label or "@" + target[len("!subteam^") :]
        name = name if name.startswith("@") else "@" + name
        return f'<span class="mention">{_escape(slack_unescape(name))}</span>'
    if target in ("!here", "!channel", "!everyone"):
        return f'<span class="mention broadcast">@{_escape(target[1:])}</span>'
    if target.startswith("!date^"):
        fallback = label or target.split("^")[-1]
        return f'<span class="date">{_escape(slack_unescape(fallback))}</span>'
    if target.startswith("!"):
        return _escape(slack_unescape(label or target))
    href = slack_unescape(target)
    shown = slack_unescape(label) if label else href
    if not _SAFE_HREF.match(href):
        return _escape(shown)
    return f'<a href="{_escape(href)}" target="_blank" rel="noopener noreferrer">{_escape(shown)}</a>'


def _inline(line: str) -> str:
    spans = _Inline()
    # Code spans first: inside one, `<…>` is literal text (and a placeholder must never end up inside another).
    line = _CODE_SPAN.sub(lambda m: spans.keep(f"<code>{_escape(slack_unescape(m.group(1)))}</code>"), line)
    line = _ANGLE.sub(lambda m: spans.keep(_angle(m.group(1))), line)
    parts = _PLACEHOLDER.split(line)
    out: list[str] = []
    for index, part in enumerate(parts):  # text, placeholder number, text, ...
        out.append(f"\ue000{part}\ue001" if index % 2 else _escape(slack_unescape(part)))
    text = "".join(out)
    text = _BOLD.sub(r"<b>\1</b>", text)
    text = _ITALIC.sub(r"<i>\1</i>", text)
    text = _STRIKE.sub(r"<s>\1</s>", text)
    return spans.restore(text)


def mrkdwn_html(text: str) -> str:
    """Slack mrkdwn as HTML: code blocks, block quotes (lines starting with `&gt;`), then inline formatting."""
    text = text.replace("\ue000", "\ufffd").replace("\ue001", "\ufffd")
    out: list[str] = []
    pieces = text.split("```")
    for index, piece in enumerate(pieces):
        if index % 2 and index < len(pieces) - 1:  # inside a code block (a lone ``` is shown as it is)
            out.append(f"<pre>{_escape(slack_unescape(piece.strip(chr(10))))}</pre>")
            continue
        out.append(_lines("```" + piece if index % 2 else piece))
    return "".join(out)


def _lines(text: str) -> str:
    out: list[str] = []
    quote_lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith("&gt;"):
            quote_lines.append(_inline(line[4:].removeprefix(" ")))
            continue
        if quote_lines:
            out.append("<blockquote>" + "<br>".join(quote_lines) + "</blockquote>")
            quote_lines = []
        out.append(_inline(line) + "<br>")
    if quote_lines:
        out.append("<blockquote>" + "<br>".join(quote_lines) + "</blockquote>")
    joined = "".join(out)
    return joined.removesuffix("<br>")


def _text_object(obj: Any) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_html(text)
    return _escape(text).replace("\n", "<br>")


def _button(element: dict[str, Any]) -> str:
    label = _text_object(element.get("text"))
    style = element.get("style")
    css = "button" + (f" {style}" if style in ("primary", "danger") else "")
    url = str(element.get("url") or "")
    if url and _SAFE_HREF.match(url):
        return f'<a class="{css}" href="{_escape(url)}" target="_blank" rel="noopener noreferrer">{label}</a>'
    return f'<span class="{css}">{label}</span>'


def _block(block: Any) -> str:
    if not isinstance(block, dict):
        return '<div class="unknown">(not a block)</div>'
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_text_object(block.get("text"))}</div>'
    if kind == "section":
        parts: list[str] = []
        if block.get("text"):
            parts.append(f'<div class="text">{_text_object(block["text"])}</div>')
        fields = block.get("fields") or []
        if fields:
            cells = "".join(f'<div class="field">{_text_object(f)}</div>' for f in fields)
            parts.append(f'<div class="fields">{cells}</div>')
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and accessory.get("type") == "button":
            parts.append(f'<div class="accessory">{_button(accessory)}</div>')
        return f'<div class="section">{"".join(parts)}</div>'
    if kind == "context":
        elements = []
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("type") == "image":
                elements.append(f'<span class="img">[{_escape(str(element.get("alt_text", "image")))}]</span>')
            else:
                elements.append(f"<span>{_text_object(element)}</span>")
        return f'<div class="context">{"".join(elements)}</div>'
    if kind == "actions":
        buttons = "".join(_button(e) for e in block.get("elements") or [] if isinstance(e, dict))
        return f'<div class="actions">{buttons}</div>'
    if kind == "divider":
        return '<hr class="divider">'
    if kind == "image":
        return f'<div class="image">[image: {_escape(str(block.get("alt_text", "")))}]</div>'
    return f'<div class="unknown">(block of type {_escape(str(kind))} not drawn)</div>'


def _attachment(attachment: Any) -> str:
    if not isinstance(attachment, dict):
        return ""
    colour = str(attachment.get("color") or "#DDDDDD")
    if not re.fullmatch(r"#?[0-9A-Fa-f]{3,8}", colour):
        colour = {"good": "#2EB67D", "warning": "#ECB22E", "danger": "#E01E5A"}.get(colour, "#DDDDDD")
    colour = colour if colour.startswith("#") else "#" + colour
    inner: list[str] = []
    if attachment.get("title"):
        inner.append(f'<div class="att-title">{_escape(str(attachment["title"]))}</div>')
    if attachment.get("text"):
        inner.append(f'<div class="text">{mrkdwn_html(str(attachment["text"]))}</div>')
    fields = attachment.get("fields") or []
    if fields:
        cells = "".join(
            f'<div class="field{" short" if f.get("short") else ""}"><b>{_escape(str(f.get("title", "")))}</b><br>'
            f"{mrkdwn_html(str(f.get('value', '')))}</div>"
            for f in fields
            if isinstance(f, dict)
        )
        inner.append(f'<div class="fields">{cells}</div>')
    inner.extend(_block(b) for b in attachment.get("blocks") or [])
    return (
        f'<div class="attachment"><div class="bar" style="background:{colour}"></div>'
        f'<div class="att-body">{"".join(inner)}</div></div>'
    )


def message_html(message: dict[str, Any]) -> str:
    """The message's body as Slack draws it: its blocks (or its text when it has none), then its attachments."""
    blocks = message.get("blocks") or []
    if blocks:
        body = "".join(_block(b) for b in blocks)
    else:
        body = f'<div class="text">{mrkdwn_html(str(message.get("text", "")))}</div>'
    return body + "".join(_attachment(a) for a in message.get("attachments") or [])


def push_text(message: dict[str, Any]) -> str:
    """What Slack puts in a push notification: the message's `text` as plain text (links by their text, mentions
    by name, entities decoded, emphasis markers dropped)."""
    text = str(message.get("text") or "")

    def plain(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if label:
            return label
        return "@" + target[1:] if target.startswith(("@", "!")) else target

    text = _ANGLE.sub(plain, text)
    text = re.sub(r"(?<![\w*])\*(\S[^*\n]*?)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_(\S[^_\n]*?)_(?![\w_])", r"\1", text)
    text = re.sub(r"(?<![\w~])~(\S[^~\n]*?)~(?![\w~])", r"\1", text)
    return " ".join(slack_unescape(text).split())


def lock_screen(text: str, limit: int = LOCK_SCREEN) -> tuple[str, bool]:
    """The part a lock screen shows and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[: limit - 1] + "\u2026", True)


def block_kit_builder_url(message: dict[str, Any]) -> str:
    """The message opened in Slack's Block Kit Builder (it reads the message from the URL's fragment)."""
    shown = {key: message[key] for key in ("blocks", "attachments") if key in message}
    return BLOCK_KIT_BUILDER + quote(json.dumps(shown, ensure_ascii=False, separators=(",", ":")), safe="")


def _phone(app: str, title: str, text: str, note: str) -> str:
    shown, cut = lock_screen(text)
    count = f"{len(text)} characters" + (f", {LOCK_SCREEN} shown" if cut else ", all shown")
    return (
        '<div class="phone"><div class="notification">'
        f'<div class="app"><span class="icon">{_escape(app[:1])}</span>{_escape(app)}<span class="now">now</span></div>'
        f'<div class="ntitle">{_escape(title)}</div><div class="ntext">{_escape(shown) or "<i>(empty)</i>"}</div>'
        f'</div><div class="count">{_escape(note)} · {count}</div></div>'
    )


def page(
    message: dict[str, Any],
    *,
    title: str,
    pagerduty: Sequence[str] = (),
    pagerduty_note: str = "",
    channel: str = "alerts",
) -> str:
    """The whole page: the message in a Slack channel, then the phone previews (Slack's push text and each
    PagerDuty summary; `pagerduty_note` when nothing pages, e.g. a resolve or a suppressed alarm)."""
    phones = [_phone("Slack", f"#{channel}", push_text(message), "Slack push text")]
    phones.extend(_phone("PagerDuty", "Triggered", summary, "PagerDuty summary") for summary in pagerduty)
    if not pagerduty and pagerduty_note:
        phones.append(f'<div class="phone"><div class="nopage">PagerDuty: {_escape(pagerduty_note)}</div></div>')
    return _PAGE.format(
        title=_escape(title),
        channel=_escape(channel),
        body=message_html(message),
        phones="".join(phones),
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ margin: 0; background: #f8f8f8; font: 15px/1.46668 -apple-system, "Segoe UI", Lato, "Helvetica Neue",
  Arial, sans-serif; color: #1d1c1d; }}
.wrap {{ display: flex; gap: 24px; padding: 20px; align-items: flex-start; }}
.slack {{ background: #fff; border: 1px solid #ddd; border-radius: 8px; width: 720px; flex: none; }}
.channel {{ border-bottom: 1px solid #ddd; padding: 10px 20px; font-weight: 900; font-size: 18px; }}
.msg {{ display: flex; padding: 8px 20px 12px; }}
.avatar {{ width: 36px; height: 36px; border-radius: 6px; background: #e01e5a; color: #fff; font-weight: 900;
  display: flex; align-items: center; justify-content: center; margin-right: 8px; flex: none; }}
.content {{ flex: 1; min-width: 0; overflow-wrap: anywhere; }}
.who b {{ font-weight: 900; }} .who .appbadge {{ background: #ddd; color: #616061; font-size: 10px; font-weight: 700;
  padding: 1px 3px; border-radius: 2px; margin: 0 4px; }} .who .time {{ color: #616061; font-size: 12px; }}
.header {{ font-size: 18px; font-weight: 900; line-height: 1.33; margin: 4px 0 8px; }}
.section {{ display: flex; flex-wrap: wrap; margin: 4px 0 8px; }}
.section .text {{ flex: 1 1 100%; }}
.fields {{ display: grid; grid-template-columns: 1fr 1fr; column-gap: 16px; row-gap: 8px; width: 100%;
  margin-top: 4px; }}
.context {{ color: #616061; font-size: 12px; margin: 4px 0; }} .context span {{ margin-right: 8px; }}
.actions {{ margin: 8px 0; display: flex; flex-wrap: wrap; gap: 8px; }}
.button {{ display: inline-block; border: 1px solid #bbb; border-radius: 4px; padding: 3px 12px; font-weight: 700;
  font-size: 13px; color: #1d1c1d; text-decoration: none; background: #fff; }}
.button.primary {{ background: #007a5a; color: #fff; border-color: #007a5a; }}
.button.danger {{ background: #e01e5a; color: #fff; border-color: #e01e5a; }}
.attachment {{ display: flex; margin: 4px 0; }} .bar {{ width: 4px; border-radius: 8px; flex: none; }}
.att-body {{ padding: 0 12px; min-width: 0; flex: 1; }} .att-title {{ font-weight: 700; }}
a {{ color: #1264a3; text-decoration: none; }}
code {{ font: 12px Menlo, Monaco, Consolas, monospace; color: #e01e5a; background: #f6f6f6; border: 1px solid #ddd;
  border-radius: 3px; padding: 0 3px; }}
pre {{ font: 12px/1.5 Menlo, Monaco, Consolas, monospace; background: #f8f8f8; border: 1px solid #ddd;
  border-radius: 4px; padding: 8px; white-space: pre-wrap; margin: 4px 0; }}
blockquote {{ margin: 4px 0; padding-left: 12px; border-left: 4px solid #ddd; }}
.mention {{ background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }}
.mention.broadcast {{ background: #fef5d7; color: #1d1c1d; }}
.divider {{ border: 0; border-top: 1px solid #ddd; }} .unknown, .image {{ color: #a00; font-size: 12px; }}
.phones {{ width: 360px; flex: none; }}
.phone {{ background: linear-gradient(160deg, #2c3e66, #6a4c93); border-radius: 24px; padding: 14px;
  margin-bottom: 16px; }}
.notification {{ background: rgba(245,245,245,.92); border-radius: 14px; padding: 10px 12px; }}
.app {{ font-size: 12px; color: #555; text-transform: uppercase; letter-spacing: .3px; }}
.app .icon {{ display: inline-block; width: 16px; height: 16px; border-radius: 4px; background: #4a154b; color: #fff;
  text-align: center; font-size: 11px; line-height: 16px; margin-right: 6px; }}
.app .now {{ float: right; text-transform: none; }}
.ntitle {{ font-weight: 700; font-size: 14px; margin-top: 2px; }}
.ntext {{ font-size: 14px; line-height: 1.3; }}
.count {{ color: #ddd; font-size: 11px; margin-top: 6px; }} .nopage {{ color: #fff; font-size: 13px; }}
</style></head>
<body><div class="wrap">
<div class="slack"><div class="channel"># {channel}</div>
<div class="msg"><div class="avatar">!</div><div class="content">
<div class="who"><b>Alert forwarding</b><span class="appbadge">APP</span><span class="time">03:00</span></div>
{body}
</div></div></div>
<div class="phones">{phones}</div>
</div></body></html>
"""
