"""`python -m tools.serve --alertmanager-url URL` (issue 11): a signed click on the pipeline's `/slack/interactions`
silences the group on a real Alertmanager (Debian's package), visible through `amtool silence query`, and the
parent's Unsilence button, clicked next, expires it. Skipped outside CI when the binary is missing, like
test_real_alertmanager.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alertlib.threads import Matcher, ThreadMeta
from tests.handlers.oncall_served import APP_SECRET, served_oncall
from tests.integration.binaries import RealAlertmanager
from tests.integration.test_alertmanager_silence import amtool_silences
from tools.slack_api_standin import CHANNEL

CONFIG = """
route:
  receiver: nobody
receivers:
  - name: nobody
"""


def test_serve_alertmanager_url_receives_the_silence_of_a_click_and_its_unsilence(
    aws: Any, alertmanager: Callable[[str], RealAlertmanager]
) -> None:
    am = alertmanager(CONFIG)
    with served_oncall(aws, alertmanager_url=am.url) as served:
        assert served.oncall.alertmanager is None  # no stand-in: the real one gets the silences
        meta = ThreadMeta(routing=APP_SECRET, source="alertmanager",
                          matchers=(Matcher("alertname", "DiskFull"), Matcher("instance", "db-1")))  # fmt: skip
        thread = served.thread("am:diskfull", meta)
        assert served.click(thread, "alert.silence", option=1)[0] == 200  # 4 h
        assert served.oncall.wait_idle()

        [silence] = amtool_silences(am)
        assert silence["status"]["state"] == "active" and silence["createdBy"] == "ana (Slack U0LOCAL01)"
        assert [(m["name"], m["value"]) for m in silence["matchers"]] == [
            ("alertname", "DiskFull"),
            ("instance", "db-1"),
        ]
        assert any("action    done: Silenced for 4 h by @U0LOCAL01" in line for line in served.lines)

        assert served.click(thread, "alert.unsilence")[0] == 200  # the parent now offers Unsilence
        assert served.oncall.wait_idle()
        assert amtool_silences(am) == []
        [expired] = amtool_silences(am, "--expired")
        assert expired["id"] == silence["id"]
        assert thread.ts is not None
        texts = [r.text for r in served.slack.replies(CHANNEL, thread.ts)]
        assert any("Silenced for 4 h" in t for t in texts) and any("Silence removed by" in t for t in texts), texts
