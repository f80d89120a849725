"""PagerDuty webhooks v3 (issue 11): signatures (valid, invalid, rotated, several), parsing, alert keys by REST."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from alertlib.action_http import JsonHttp
from alertlib.deliver import Deadline
from alertlib.errors import ConfigurationError, MalformedInput, PermanentDeliveryError, TransientDeliveryError
from alertlib.pagerduty_webhooks import (
    DynamoWebhookDedup,
    IncidentEvent,
    PagerDutyAlertKeys,
    WebhookSecrets,
    pagerduty_signature,
    parse_webhook,
    rest_token,
    thread_line,
    verify_pagerduty_signature,
)
from tests.unit.interactions_helpers import create_state_table

SECRET = "pd-webhook-secret-0123456789abcdef"
OLD_SECRET = "pd-webhook-secret-old-456789abcdef"
TOKEN = "y_NbAkKc66ryYTWUXYEu"


def webhook(event_type: str = "incident.acknowledged", **data: Any) -> dict[str, Any]:
    """A v3 envelope shaped as PagerDuty's developer docs show it (PROTOCOLS-NEXT section 4)."""
    incident = {
        "id": "PGR0VU2",
        "type": "incident",
        "self": "https://api.pagerduty.com/incidents/PGR0VU2",
        "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
        "number": 2,
        "status": "acknowledged",
        "incident_key": "d3640fbd41094207a1c11e58e46b1662",
        "created_at": "2026-12-03T03:10:00Z",
        "title": "prod: RDS db-1 CPU above 90%",
        "service": {"id": "PF9KMXH", "type": "service_reference", "summary": "API Service"},
        "assignees": [{"id": "PTUXL6G", "type": "user_reference", "summary": "Bob Ito"}],
        "escalation_policy": {"id": "PUS0KTE", "type": "escalation_policy_reference", "summary": "Default"},
        "teams": [],
        "priority": None,
        "urgency": "high",
        "conference_bridge": None,
        "resolve_reason": None,
        **data,
    }
    return {
        "event": {
            "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-12-03T03:12:00.000Z",
            "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": "Ana Lopez"},
            "client": None,
            "data": incident,
        }
    }


def body(value: Any) -> bytes:
    return json.dumps(value).encode()


SECRETS = WebhookSecrets((SECRET,))


def test_pagerduty_webhooks_valid_signature_is_accepted() -> None:
    raw = body(webhook())
    assert verify_pagerduty_signature(pagerduty_signature(SECRET, raw), raw, SECRETS)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "v1=",
        "v1=" + "0" * 64,
        "v0=" + "0" * 64,
        "garbage",
        pagerduty_signature(SECRET, b"other body"),
        pagerduty_signature("wrong-secret-0123456789abcdef", b"{}"),
    ],
)
def test_pagerduty_webhooks_invalid_signature_is_refused(header: str) -> None:
    assert not verify_pagerduty_signature(header, body(webhook()), SECRETS)


def test_pagerduty_webhooks_tampered_body_is_refused() -> None:
    raw = body(webhook())
    header = pagerduty_signature(SECRET, raw)
    assert not verify_pagerduty_signature(header, raw.replace(b"Ana", b"Eve"), SECRETS)


def test_pagerduty_webhooks_several_values_any_match() -> None:
    raw = body(webhook())
    header = f"v1={'a' * 64}, {pagerduty_signature(SECRET, raw)},v1={'b' * 64}"
    assert verify_pagerduty_signature(header, raw, SECRETS)


def test_pagerduty_webhooks_rotation_either_secret_matches() -> None:
    raw = body(webhook())
    both = WebhookSecrets((SECRET, OLD_SECRET))
    assert verify_pagerduty_signature(pagerduty_signature(OLD_SECRET, raw), raw, both)
    assert verify_pagerduty_signature(pagerduty_signature(SECRET, raw), raw, both)
    header = f"{pagerduty_signature(OLD_SECRET, raw)},{pagerduty_signature(SECRET, raw)}"
    assert verify_pagerduty_signature(header, raw, SECRETS)
    assert not verify_pagerduty_signature(pagerduty_signature(OLD_SECRET, raw), raw, SECRETS)


def test_pagerduty_webhooks_uppercase_hex_is_accepted() -> None:
    raw = body(webhook())
    assert verify_pagerduty_signature(pagerduty_signature(SECRET, raw).upper().replace("V1=", "v1="), raw, SECRETS)


@pytest.mark.parametrize(
    "value",
    [
        "x",
        json.dumps({}),
        json.dumps({"secrets": []}),
        json.dumps({"secrets": "s" * 40}),
        json.dumps({"secrets": ["s"]}),
    ],
)
def test_pagerduty_webhooks_malformed_secret_fails_fast(value: str) -> None:
    with pytest.raises(ConfigurationError):
        WebhookSecrets.from_secret(value)


def test_pagerduty_webhooks_secret_with_two_during_rotation() -> None:
    assert WebhookSecrets.from_secret(json.dumps({"secrets": [SECRET, OLD_SECRET]})).secrets == (SECRET, OLD_SECRET)


def test_pagerduty_webhooks_acknowledged_is_parsed_with_who() -> None:
    event = parse_webhook(body(webhook()))
    assert event is not None
    assert (event.event_type, event.incident_id, event.incident_number) == ("incident.acknowledged", "PGR0VU2", 2)
    assert event.agent == "Ana Lopez" and event.assignees == ("Bob Ito",)
    assert thread_line(event) == "Acknowledged in PagerDuty by Ana Lopez"
    assert IncidentEvent.from_json(json.loads(json.dumps(event.as_json()))) == event


@pytest.mark.parametrize(
    ("event_type", "line"),
    [
        ("incident.resolved", "Resolved in PagerDuty by Ana Lopez"),
        ("incident.reassigned", "Reassigned in PagerDuty to Bob Ito by Ana Lopez"),
        ("incident.escalated", "Escalated in PagerDuty to Bob Ito by Ana Lopez"),
    ],
)
def test_pagerduty_webhooks_handled_events_say_what_happened(event_type: str, line: str) -> None:
    event = parse_webhook(body(webhook(event_type)))
    assert event is not None and thread_line(event) == line


def test_pagerduty_webhooks_escalation_by_timeout_names_no_agent() -> None:
    value = webhook("incident.escalated")
    value["event"]["agent"] = None
    event = parse_webhook(body(value))
    assert event is not None and thread_line(event) == "Escalated in PagerDuty to Bob Ito"


@pytest.mark.parametrize(
    "event_type",
    ["incident.triggered", "incident.annotated", "service.updated", "incident.priority_updated", "pagey.ping"],
)
def test_pagerduty_webhooks_other_events_are_ignored(event_type: str) -> None:
    assert parse_webhook(body(webhook(event_type))) is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[]",
        b'{"event": 1}',
        b'{"event": {}}',
        body({"event": {**webhook()["event"], "data": None}}),
        body({"event": {**webhook()["event"], "data": {"type": "incident_note"}}}),
        body(webhook(id="../../x")),
        body(webhook(id=None)),
        b"[" * 100_000,
    ],
)
def test_pagerduty_webhooks_malformed_bodies_are_malformed_input(raw: bytes) -> None:
    with pytest.raises(MalformedInput):
        parse_webhook(raw)


def test_pagerduty_webhooks_hostile_text_is_one_bounded_line() -> None:
    event = parse_webhook(body(webhook(title="a\nb" * 1000, assignees=[{"summary": "x\ny"}] * 50)))
    assert event is not None and "\n" not in event.title and len(event.title) <= 300
    assert len(event.assignees) == 10 and event.assignees[0] == "x y"


def test_pagerduty_webhooks_dedup_by_webhook_id(aws: Any) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dedup = DynamoWebhookDedup(create_state_table(dynamodb), dynamodb)
    assert dedup.first_delivery("a1b2-c3", 1000.0)
    assert not dedup.first_delivery("a1b2-c3", 1001.0)
    [item] = dynamodb.scan(TableName="interactions")["Items"]
    assert int(item["expires_at"]["N"]) == 1000 + 49 * 3600
    dedup.forget("a1b2-c3")
    assert dedup.first_delivery("a1b2-c3", 1002.0)


class FakePagerDutyRest:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, Any]] = []
        self.alerts = [{"id": "Q1", "alert_key": f"key-{i}", "status": "triggered"} for i in range(150)]
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append({"path": self.path, "headers": dict(self.headers)})
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                offset, limit = int(query["offset"][0]), int(query["limit"][0])
                if owner.script:
                    status, answer = owner.script.pop(0)
                else:
                    page = owner.alerts[offset : offset + limit]
                    status, answer = 200, {"alerts": page, "limit": limit, "offset": offset,
                                           "more": offset + limit < len(owner.alerts)}  # fmt: skip
                data = (answer if isinstance(answer, str) else json.dumps(answer)).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def rest() -> Iterator[FakePagerDutyRest]:
    server = FakePagerDutyRest()
    yield server
    server.server.shutdown()
    server.server.server_close()


def keys_client(rest: FakePagerDutyRest, clock: Any = None) -> PagerDutyAlertKeys:
    kwargs = {"clock": clock} if clock else {}
    return PagerDutyAlertKeys(lambda: TOKEN, http=JsonHttp(retries=1, backoff=0.0), base_url=rest.url, **kwargs)


def test_pagerduty_webhooks_alert_keys_from_rest_every_page_with_token_headers(rest: FakePagerDutyRest) -> None:
    keys = keys_client(rest)("PGR0VU2", Deadline(30))
    assert keys == tuple(f"key-{i}" for i in range(150))
    assert [r["path"].split("?")[0] for r in rest.requests] == ["/incidents/PGR0VU2/alerts"] * 2
    headers = rest.requests[0]["headers"]
    assert headers["Authorization"] == f"Token token={TOKEN}"
    assert headers["Accept"] == "application/vnd.pagerduty+json;version=2"


def test_pagerduty_webhooks_alert_keys_cached_per_incident(rest: FakePagerDutyRest) -> None:
    now = [0.0]
    client = keys_client(rest, clock=lambda: now[0])
    rest.alerts = rest.alerts[:1]
    client("PGR0VU2", Deadline(30))
    client("PGR0VU2", Deadline(30))
    assert len(rest.requests) == 1
    client("PXXXXXX", Deadline(30))
    now[0] = 3601
    client("PGR0VU2", Deadline(30))
    assert len(rest.requests) == 3


def test_pagerduty_webhooks_incident_key_is_never_the_answer(rest: FakePagerDutyRest) -> None:
    rest.alerts = [{"id": "Q1", "alert_key": "am-4f2a9c"}]
    assert keys_client(rest)("PGR0VU2", Deadline(30)) == ("am-4f2a9c",)


def test_pagerduty_webhooks_rest_errors_are_classified_without_the_token(rest: FakePagerDutyRest) -> None:
    rest.script.append((401, {"error": {"message": f"Invalid token {TOKEN}"}}))
    with pytest.raises(PermanentDeliveryError) as caught:
        keys_client(rest)("PGR0VU2", Deadline(30))
    assert TOKEN not in str(caught.value) and "HTTP 401" in str(caught.value)
    rest.script.extend([(500, "oops"), (500, "oops")])
    with pytest.raises(TransientDeliveryError):
        keys_client(rest)("PGR0VU2", Deadline(30))
    rest.script.append((200, {"no": "alerts"}))
    with pytest.raises(PermanentDeliveryError, match="no alerts list"):
        keys_client(rest)("PGR0VU2", Deadline(30))


def test_pagerduty_webhooks_bad_incident_id_is_never_requested(rest: FakePagerDutyRest) -> None:
    with pytest.raises(MalformedInput):
        keys_client(rest)("../users", Deadline(30))
    assert rest.requests == []


def test_pagerduty_webhooks_rest_token_secret_shape() -> None:
    assert rest_token(json.dumps({"api_token": TOKEN})) == TOKEN
    for bad in ("x", json.dumps({}), json.dumps({"api_token": 5})):
        with pytest.raises(ConfigurationError):
            rest_token(bad)
