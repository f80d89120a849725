"""The Alertmanager API v2 silence client (issue 11): body, paths, the three kinds of auth, errors by status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from alertlib.action_http import JsonHttp
from alertlib.deliver import Deadline
from alertlib.errors import ConfigurationError, MalformedInput, PermanentDeliveryError, TransientDeliveryError
from alertlib.silences import AlertmanagerCredentials, AlertmanagerSilences, sigv4_signer, silence_body

NOW = datetime(2026, 12, 3, 3, 12, 30, tzinfo=UTC)
SILENCE_ID = "9f8a3c1e-2b4d-4e5f-8a9b-0c1d2e3f4a5b"


class FakeAlertmanager:
    """Answers as Alertmanager's API v2 does, or as scripted; records each request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, text = owner.script.pop(0) if owner.script else owner.default(self.command)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_DELETE = do_GET = _answer  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def default(self, method: str) -> tuple[int, str]:
        return (200, json.dumps({"silenceID": SILENCE_ID})) if method == "POST" else (200, "")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def am() -> Iterator[FakeAlertmanager]:
    server = FakeAlertmanager()
    yield server
    server.close()


def client(creds: AlertmanagerCredentials, **kw: Any) -> AlertmanagerSilences:
    return AlertmanagerSilences(lambda: creds, http=JsonHttp(retries=2, backoff=0.0), **kw)


BODY = silence_body(
    {"alertname": "DiskFull", "instance": "db-1:9100"},
    now=NOW,
    seconds=4 * 3600,
    created_by="ana (Slack W111)",
    comment="Silenced from Slack: https://x.slack.com/archives/C1/p1",
)


def test_silences_body_has_equality_matchers_and_the_window() -> None:
    assert BODY == {
        "matchers": [
            {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
            {"name": "instance", "value": "db-1:9100", "isRegex": False, "isEqual": True},
        ],
        "startsAt": "2026-12-03T03:12:30Z",
        "endsAt": "2026-12-03T07:12:30Z",
        "createdBy": "ana (Slack W111)",
        "comment": "Silenced from Slack: https://x.slack.com/archives/C1/p1",
    }


@pytest.mark.parametrize("labels", [{}, {"alertname": ""}, {f"l{i}": "v" for i in range(65)}])
def test_silences_refuse_a_silence_matching_everything_or_too_much(labels: dict[str, str]) -> None:
    with pytest.raises(MalformedInput):
        silence_body(labels, now=NOW, seconds=3600, created_by="a", comment="c")


def test_silences_create_posts_to_api_v2_with_basic_auth(am: FakeAlertmanager) -> None:
    creds = AlertmanagerCredentials.from_secret(
        json.dumps({"url": am.url + "/", "basic_auth": {"username": "forwarder", "password": "pa55word-xyz"}})
    )
    assert client(creds).create(BODY, Deadline(30)) == SILENCE_ID
    request = am.requests[0]
    assert (request["method"], request["path"]) == ("POST", "/api/v2/silences")
    assert request["headers"]["Authorization"] == "Basic Zm9yd2FyZGVyOnBhNTV3b3JkLXh5eg=="
    assert json.loads(request["body"]) == BODY


def test_silences_expire_deletes_the_singular_path_with_bearer(am: FakeAlertmanager) -> None:
    creds = AlertmanagerCredentials.from_secret(json.dumps({"url": am.url, "bearer_token": "t0ken-t0ken"}))
    client(creds).expire(SILENCE_ID, Deadline(30))
    request = am.requests[0]
    assert (request["method"], request["path"]) == ("DELETE", f"/api/v2/silence/{SILENCE_ID}")
    assert request["headers"]["Authorization"] == "Bearer t0ken-t0ken"


def test_silences_amp_requests_are_signed_with_sigv4_for_aps(am: FakeAlertmanager) -> None:
    from botocore.credentials import Credentials

    class Session:
        def get_credentials(self) -> Credentials:
            return Credentials("AKIDEXAMPLE", "secret-example")

    creds = AlertmanagerCredentials.from_secret(
        json.dumps({"url": am.url + "/workspaces/ws-1234/alertmanager", "sigv4": {"region": "eu-west-1"}})
    )
    silences = client(creds, signer=lambda region: sigv4_signer(region, Session()))
    assert silences.create(BODY, Deadline(30)) == SILENCE_ID
    request = am.requests[0]
    assert request["path"] == "/workspaces/ws-1234/alertmanager/api/v2/silences"
    authorization = request["headers"]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/aps/aws4_request" in authorization
    assert "X-Amz-Date" in request["headers"]
    assert json.loads(request["body"]) == BODY  # the signed bytes are the bytes sent


def test_silences_4xx_is_permanent_one_line_without_the_password(am: FakeAlertmanager) -> None:
    am.script.append((400, "end time can't be in the past\npa55word-xyz"))
    creds = AlertmanagerCredentials.from_secret(
        json.dumps({"url": am.url, "basic_auth": {"username": "u", "password": "pa55word-xyz"}})
    )
    with pytest.raises(PermanentDeliveryError) as caught:
        client(creds).create(BODY, Deadline(30))
    message = str(caught.value)
    assert message.startswith("alertmanager: HTTP 400 end time can't be in the past")
    assert "\n" not in message and "pa55word-xyz" not in message and "127.0.0.1" not in message
    assert caught.value.status == 400


def test_silences_5xx_is_retried_then_retryable(am: FakeAlertmanager) -> None:
    am.script.extend([(503, "down"), (503, "down"), (503, "down")])
    creds = AlertmanagerCredentials.from_secret(json.dumps({"url": am.url}))
    with pytest.raises(TransientDeliveryError, match="HTTP 503"):
        client(creds).create(BODY, Deadline(30))
    assert len(am.requests) == 3


def test_silences_5xx_then_success(am: FakeAlertmanager) -> None:
    am.script.append((502, "bad gateway"))
    creds = AlertmanagerCredentials.from_secret(json.dumps({"url": am.url}))
    assert client(creds).create(BODY, Deadline(30)) == SILENCE_ID


def test_silences_nobody_listening_is_retryable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    creds = AlertmanagerCredentials.from_secret(json.dumps({"url": f"http://127.0.0.1:{port}"}))
    with pytest.raises(TransientDeliveryError):
        client(creds).create(BODY, Deadline(30))


def test_silences_answer_without_an_id_is_permanent(am: FakeAlertmanager) -> None:
    am.script.append((200, "{}"))
    creds = AlertmanagerCredentials.from_secret(json.dumps({"url": am.url}))
    with pytest.raises(PermanentDeliveryError, match="silenceID"):
        client(creds).create(BODY, Deadline(30))


def test_silences_a_malformed_id_is_never_put_in_a_path(am: FakeAlertmanager) -> None:
    creds = AlertmanagerCredentials.from_secret(json.dumps({"url": am.url}))
    with pytest.raises(MalformedInput):
        client(creds).expire("../../api/v2/alerts", Deadline(30))
    assert am.requests == []


@pytest.mark.parametrize(
    "secret",
    [
        "nope",
        json.dumps({}),
        json.dumps({"url": "ftp://am"}),
        json.dumps({"url": "http://am", "basic_auth": {"username": "u"}}),
        json.dumps({"url": "http://am", "bearer_token": ""}),
        json.dumps({"url": "http://am", "bearer_token": "t", "basic_auth": {"username": "u", "password": "p"}}),
        json.dumps({"url": "http://am", "sigv4": {}}),
        json.dumps({"url": "http://am", "sigv4": {"region": "mars"}}),
    ],
)
def test_silences_malformed_credentials_fail_fast(secret: str) -> None:
    with pytest.raises(ConfigurationError):
        AlertmanagerCredentials.from_secret(secret)


def test_silences_config_url_overrides_the_secret() -> None:
    creds = AlertmanagerCredentials.from_secret(json.dumps({"url": "http://a"}), url="https://b.example.com/")
    assert creds.url == "https://b.example.com"
