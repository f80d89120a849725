"""tools.slack_html: a Slack message drawn as Slack draws it (issue 13). mrkdwn as Slack reads it, every block kind
the renderers send, the attachments' colour bar, the phone's lock screen; every piece of text escaped for HTML."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.slack_html import block_kit_builder_url, lock_screen, message_html, mrkdwn_html, page, push_text


@pytest.mark.parametrize(
    ("mrkdwn", "drawn"),
    [
        ("*bold*", "<b>bold</b>"),
        ("_italic_", "<i>italic</i>"),
        ("~strike~", "<s>strike</s>"),
        ("`code`", "<code>code</code>"),
        ("a*b*c", "a*b*c"),  # emphasis needs a boundary outside the markers
        ("snake_case_name", "snake_case_name"),
        ("* not bold *", "* not bold *"),
        ("*Threshold*\n90", "<b>Threshold</b><br>90"),
        ("&lt;b&gt; &amp; co", "&lt;b&gt; &amp; co"),  # entities shown as the characters, escaped for HTML
        ("&amp;lt;", "&amp;lt;"),  # an escaped entity stays literal
        ("`*not bold*`", "<code>*not bold*</code>"),
        ("*<https://x.example/a|the link>*", '<b><a href="https://x.example/a"'),
    ],
)
def test_slack_html_mrkdwn_inline(mrkdwn: str, drawn: str) -> None:
    assert drawn in mrkdwn_html(mrkdwn)


def test_slack_html_links_show_their_text_and_open_their_url() -> None:
    drawn = mrkdwn_html("see <https://runbooks.example.com/a?b=1&amp;c=2|the runbook> or <https://x.example>")
    assert '<a href="https://runbooks.example.com/a?b=1&amp;c=2"' in drawn
    assert ">the runbook</a>" in drawn
    assert ">https://x.example</a>" in drawn


def test_slack_html_only_web_links_are_links() -> None:
    drawn = mrkdwn_html("<javascript:alert(1)|click>")
    assert "href" not in drawn and "click" in drawn


def test_slack_html_mentions_and_dates() -> None:
    drawn = mrkdwn_html(
        "<@U123ABC> <!subteam^S0123ABCD> <!subteam^S01|@oncall> <!here> <#C1|general> "
        "<!date^1795000000^{date_short}|Nov 16, 2026>"
    )
    assert '<span class="mention">@U123ABC</span>' in drawn
    assert '<span class="mention">@S0123ABCD</span>' in drawn
    assert '<span class="mention">@oncall</span>' in drawn
    assert '<span class="mention broadcast">@here</span>' in drawn
    assert '<span class="mention">#general</span>' in drawn
    assert "Nov 16, 2026" in drawn and "date_short" not in drawn


def test_slack_html_a_line_starting_with_gt_is_a_block_quote() -> None:
    drawn = mrkdwn_html("*Threshold*\n&gt; 90 for 5 of 5 periods\nafter")
    assert "<blockquote>90 for 5 of 5 periods</blockquote>" in drawn
    assert "after" in drawn.split("</blockquote>")[1]
    assert "<blockquote>" not in mrkdwn_html("a &gt; b")  # only at a line's start


def test_slack_html_code_block_keeps_its_text() -> None:
    drawn = mrkdwn_html("before\n```\n*x* &lt;y&gt;\n  z\n```\nafter")
    assert "<pre>*x* &lt;y&gt;\n  z</pre>" in drawn
    assert "after" in drawn


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        '<https://x.example/"><script>alert(1)</script>|x>',
        '<https://x.example|"><img src=x onerror=alert(1)>>',
        "```<script>alert(1)</script>```",
        "`<script>`",
        "\ue0000\ue001<script>",
    ],
)
def test_slack_html_hostile_text_is_escaped(hostile: str) -> None:
    message = {
        "text": hostile,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": hostile}},
            {"type": "section", "text": {"type": "mrkdwn", "text": hostile}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": hostile}, {"type": "plain_text", "text": hostile}],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": hostile}]},
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": hostile}, "url": hostile}],
            },
            {"type": hostile},
        ],
        "attachments": [{"color": hostile, "title": hostile, "text": hostile, "blocks": []}],
    }
    drawn = page(message, title=hostile, pagerduty=[hostile], channel=hostile)
    assert "<script" not in drawn
    assert "<img" not in drawn
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+=", drawn)


def _message() -> dict[str, Any]:
    return {
        "text": "[ALARM] orders-db: *CPU* 97.5 % &gt; 90 %",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "ALARM: orders-db", "emoji": True}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Severity*\nCRITICAL"},
                    {"type": "mrkdwn", "text": "*Account*\nshop-prod"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Runbook"}, "url": "https://r.example"}
                ],
            },
            {"type": "divider"},
        ],
        "attachments": [
            {
                "color": "#E01E5A",
                "blocks": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "CloudWatch"}]}],
            }
        ],
    }


def test_slack_html_blocks_fields_buttons_and_colour_bar() -> None:
    drawn = message_html(_message())
    assert '<div class="header">ALARM: orders-db</div>' in drawn
    assert drawn.count('<div class="field">') == 2 and '<div class="fields">' in drawn
    assert '<a class="button" href="https://r.example"' in drawn
    assert '<div class="bar" style="background:#E01E5A">' in drawn
    assert '<div class="context"><span>CloudWatch</span></div>' in drawn.split('class="attachment"')[1]


def test_slack_html_legacy_attachment_fields_and_named_colours() -> None:
    drawn = message_html(
        {"attachments": [{"color": "danger", "title": "T", "fields": [{"title": "a", "value": "*b*"}]}]}
    )
    assert "background:#E01E5A" in drawn and "<b>b</b>" in drawn


def test_slack_html_text_without_blocks_is_the_message() -> None:
    assert "<b>hi</b>" in message_html({"text": "*hi*"})


def test_slack_html_push_text_is_plain() -> None:
    message = {"text": "*[ALARM]* <https://x.example|orders-db> &lt;90&gt; <@U1> _now_"}
    assert push_text(message) == "[ALARM] orders-db <90> @U1 now"


def test_slack_html_lock_screen_shows_about_110_characters() -> None:
    assert lock_screen("x" * 110) == ("x" * 110, False)
    shown, cut = lock_screen("x" * 300)
    assert cut and len(shown) == 110 and shown.endswith("…")


def test_slack_html_page_has_both_phones() -> None:
    drawn = page(_message(), title="t", pagerduty=["orders-db (shop-prod us-east-1): 97.5 % (above 90 %)"])
    assert drawn.count('<div class="phone">') == 2
    assert "orders-db (shop-prod us-east-1)" in drawn
    assert "[ALARM] orders-db: CPU 97.5 % &gt; 90 %" in drawn  # the push text, plain, escaped for HTML


def test_slack_html_page_says_when_nothing_pages() -> None:
    drawn = page(_message(), title="t", pagerduty_note="nothing sent: CloudWatch suppressed the alarm's actions")
    assert "PagerDuty: nothing sent: CloudWatch suppressed the alarm&#x27;s actions" in drawn


def test_slack_html_page_fetches_nothing() -> None:
    drawn = page(_message(), title="t")
    assert "default-src 'none'" in drawn
    assert "<script" not in drawn and "<link" not in drawn and "@import" not in drawn


def test_slack_html_block_kit_builder_link_holds_the_message() -> None:
    url = block_kit_builder_url(_message())
    assert url.startswith("https://app.slack.com/block-kit-builder/#%7B%22blocks%22")
    assert "attachments" in url and " " not in url


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"<>&*_~`|!@#^\n ab:/.\"'=;", "&gt;", "&lt;", "&amp;", "```", "https://"])))
def test_slack_html_any_mrkdwn_is_drawn_and_escaped(pieces: list[str]) -> None:
    drawn = mrkdwn_html("".join(pieces))
    assert "<script" not in drawn
    tags = re.findall(r"</?([a-z]+)", drawn)
    assert set(tags) <= {"b", "i", "s", "code", "pre", "br", "blockquote", "a", "span"}
    assert "\ue000" not in drawn and "\ue001" not in drawn
