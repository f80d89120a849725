"""The Alertmanager endpoint under moto: auth both ways, rotation, replay, rate limit, size, publish by severity."""

from __future__ import annotations

import base64
import json
from typing import Any

import alertmanager_endpoint
import pytest

from alertlib.endpoint import (
    MAX_BODY_BYTES,
    Credentials,
    DynamoRateLimiter,
    Endpoint,
    EndpointSettings,
    SnsPublisher,
    sign,
    split_body,
)
from tests.conftest import FakeContext
from tests.unit.helpers import alertmanager

TOKENS = ["token-current-0123456789", "token-previous-9876543210"]
KEYS = ["hmac-key-current", "hmac-key-previous"]
NOW = 1_794_999_960.0  # a minute boundary; the clock starts 40 s into it


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world(aws: Any) -> dict[str, Any]:
    import boto3

    sns = boto3.client("sns", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="endpoint",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    topics, queues = {}, {}
    for name in ("critical", "warning", "slo", "infrastructure"):
        topics[name] = sns.create_topic(Name=f"prod-{name}")["TopicArn"]
        queues[name] = sqs.create_queue(QueueName=f"q-{name}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queues[name], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topics[name], Protocol="sqs", Endpoint=arn)
    aws.create_secret(Name="endpoint/auth", SecretString=json.dumps({"bearer_tokens": TOKENS, "hmac_keys": KEYS}))
    return {"topics": topics, "queues": queues, "sqs": sqs, "dynamodb": dynamodb, "secrets": aws}


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW + 40)


@pytest.fixture
def endpoint(world: dict[str, Any], clock: Clock) -> Endpoint:
    from alertlib.deliver import powertools_secret

    return Endpoint(
        settings=EndpointSettings(topic_arns=world["topics"]),
        credentials=lambda: Credentials.from_secret(powertools_secret("endpoint/auth", force_fetch=True)),
        limiter=DynamoRateLimiter("endpoint", 100),
        publish=SnsPublisher(),
        clock=clock,
    )


def request(
    body: Any,
    *,
    token: str | None = TOKENS[0],
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    method: str = "POST",
) -> dict[str, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    all_headers = {"content-type": "application/json", **(headers or {})}
    if token is not None:
        all_headers["authorization"] = f"Bearer {token}"
    return {
        "version": "2.0",
        "rawPath": "/alertmanager",
        "headers": all_headers,
        "requestContext": {"http": {"method": method, "sourceIp": "203.0.113.7", "path": "/alertmanager"}},
        "body": base64.b64encode(data).decode(),
        "isBase64Encoded": True,
    }


def signed(body: Any, key: str, timestamp: float) -> dict[str, Any]:
    data = json.dumps(body).encode()
    stamp = str(int(timestamp))
    return request(
        body, token=None, raw=data, headers={"x-alert-timestamp": stamp, "x-alert-signature": sign(key, stamp, data)}
    )


def published(world: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    messages = []
    while True:
        answer = world["sqs"].receive_message(QueueUrl=world["queues"][topic], MaxNumberOfMessages=10)
        batch = answer.get("Messages", [])
        if not batch:
            return messages
        messages.extend(json.loads(m["Body"]) for m in batch)


def test_bearer_token_accepted_and_published_to_the_severity_topic(endpoint: Endpoint, world: dict[str, Any]) -> None:
    response = endpoint.handle(request(alertmanager(2)))
    assert response.status == 202
    assert response.body == {"status": "accepted", "alerts": 2, "messages": 1, "topic": "critical"}
    [message] = published(world, "critical")
    assert json.loads(message["Message"])["groupKey"] == alertmanager(2)["groupKey"]
    assert message["Subject"] == "[FIRING:2] HighLatency"
    assert message["MessageAttributes"]["source"]["Value"] == "alertmanager"
    assert message["MessageAttributes"]["severity"]["Value"] == "critical"


@pytest.mark.parametrize(
    ("label", "topic"),
    [("warning", "warning"), ("info", "warning"), ("slo", "slo"), ("page", "critical"), ("high", "critical"),
     ("low", "warning")],
)  # fmt: skip
def test_publish_to_the_topic_of_the_severity(
    endpoint: Endpoint, world: dict[str, Any], label: str, topic: str
) -> None:
    body = alertmanager(1)
    body["alerts"][0]["labels"]["severity"] = label
    assert endpoint.handle(request(body)).body["topic"] == topic
    assert len(published(world, topic)) == 1


def test_wrong_or_missing_bearer_is_401_with_no_detail(endpoint: Endpoint, world: dict[str, Any]) -> None:
    for token in ("nope", "", None):
        response = endpoint.handle(request(alertmanager(1), token=token))
        assert (response.status, response.body) == (401, {"error": "unauthorized"})
    assert published(world, "critical") == []


def test_rotation_both_tokens_and_both_keys_work(endpoint: Endpoint, clock: Clock) -> None:
    for token in TOKENS:
        assert endpoint.handle(request(alertmanager(1), token=token)).status == 202
    for index, key in enumerate(KEYS):
        body = alertmanager(1, receiver=f"r{index}")
        assert endpoint.handle(signed(body, key, clock.now)).status == 202


def test_signature_valid_invalid_missing_replayed_and_too_old(endpoint: Endpoint, clock: Clock) -> None:
    body = alertmanager(1)
    good = signed(body, KEYS[0], clock.now)
    assert endpoint.handle(good).status == 202
    assert endpoint.handle(good).status == 401  # replayed
    assert endpoint.handle(signed(body, "not-a-key", clock.now)).status == 401  # invalid
    missing = signed(body, KEYS[0], clock.now)
    del missing["headers"]["x-alert-signature"]
    assert endpoint.handle(missing).status == 401
    assert endpoint.handle(signed(body, KEYS[0], clock.now - 301)).status == 401  # too old
    assert endpoint.handle(signed(body, KEYS[0], clock.now + 301)).status == 401  # from the future
    tampered = signed(body, KEYS[0], clock.now - 5)
    tampered["body"] = base64.b64encode(json.dumps(alertmanager(2)).encode()).decode()
    assert endpoint.handle(tampered).status == 401
    assert endpoint.handle(signed(body, KEYS[1], clock.now - 299)).status == 202


def test_rate_limit_100_alerts_a_minute_then_429_then_a_new_minute(endpoint: Endpoint, clock: Clock) -> None:
    for _ in range(10):
        assert endpoint.handle(request(alertmanager(10))).status == 202
    refused = endpoint.handle(request(alertmanager(1)))
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "20"  # 40 s into the minute
    other_source = endpoint.handle(request(alertmanager(1), token=TOKENS[1]))
    assert other_source.status == 202
    clock.now += 21
    assert endpoint.handle(request(alertmanager(10))).status == 202


def test_rate_limit_is_atomic_in_dynamodb_with_a_ttl(endpoint: Endpoint, world: dict[str, Any]) -> None:
    endpoint.handle(request(alertmanager(3)))
    items = world["dynamodb"].scan(TableName="endpoint")["Items"]
    [counter] = [i for i in items if i["pk"]["S"].startswith("rate#")]
    assert counter["alerts"]["N"] == "3"
    assert int(counter["expires_at"]["N"]) > NOW


def test_body_over_1_mb_is_413(endpoint: Endpoint) -> None:
    response = endpoint.handle(request(None, raw=b"{" + b" " * MAX_BODY_BYTES + b"}"))
    assert response.status == 413


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"hello": "world"}', "unknown message shape"),
        (b'{"receiver": "x", "status": "firing", "alerts": []}', "no alerts"),
        (json.dumps({"AlarmName": "x", "NewStateValue": "ALARM", "AlarmArn": "arn:aws:cw:::1:alarm:x"}).encode(),
         "not an Alertmanager"),
    ],
)  # fmt: skip
def test_bad_bodies_are_400_with_the_reason(endpoint: Endpoint, raw: bytes, reason: str) -> None:
    response = endpoint.handle(request(None, raw=raw))
    assert response.status == 400
    assert reason in response.body["error"]


def test_get_is_405(endpoint: Endpoint) -> None:
    assert endpoint.handle(request(alertmanager(1), method="GET")).status == 405


def test_scalar_label_values_are_taken_as_their_text(endpoint: Endpoint, world: dict[str, Any]) -> None:
    """Liberal in what it accepts: a hand-written sender's `{"code": 500}` is the label `code="500"`, as the
    forwarders' parse reads it, not a 400 that Alertmanager-like senders never retry."""
    body = alertmanager(1)
    body["alerts"][0]["labels"].update({"code": 500, "canary": True, "owner": None})
    body["commonLabels"]["code"] = 500
    body["commonAnnotations"]["ratio"] = 0.25
    response = endpoint.handle(request(body))
    assert response.status == 202, response.body
    [message] = published(world, "critical")
    sent = json.loads(message["Message"])
    labels = sent["alerts"][0]["labels"]
    assert (labels["code"], labels["canary"], labels["owner"]) == ("500", "true", "null")
    assert sent["commonLabels"]["code"] == "500" and sent["commonAnnotations"]["ratio"] == "0.25"


def test_an_empty_list_where_a_map_belongs_is_an_empty_map(endpoint: Endpoint, world: dict[str, Any]) -> None:
    """PHP's `json_encode([])` writes an empty map as `[]`; the forwarders read it as no annotations, so the
    endpoint does too rather than refusing an alert the sender will not retry."""
    body = alertmanager(1)
    body["alerts"][0]["annotations"] = []
    body["commonAnnotations"] = []
    response = endpoint.handle(request(body))
    assert response.status == 202, response.body
    [message] = published(world, "critical")
    sent = json.loads(message["Message"])
    assert sent["alerts"][0]["annotations"] == {} and sent["commonAnnotations"] == {}


def test_non_ascii_labels_survive(endpoint: Endpoint, world: dict[str, Any]) -> None:
    body = alertmanager(1)
    body["alerts"][0]["labels"]["service"] = "Zahlungsdienst – Zürich 🚨"
    body["groupLabels"]["alertname"] = "Überlast"
    response = endpoint.handle(request(body))
    assert response.status == 202
    [message] = published(world, "critical")
    assert json.loads(message["Message"])["alerts"][0]["labels"]["service"] == "Zahlungsdienst – Zürich 🚨"
    assert message["Subject"].isascii() and len(message["Subject"]) < 100


def test_huge_group_is_split_without_losing_an_alert(endpoint: Endpoint, world: dict[str, Any]) -> None:
    body = alertmanager(400)
    for alert in body["alerts"]:
        alert["annotations"]["description"] = "x" * 2000
    body["alerts"][0]["status"] = "resolved"
    response = endpoint.handle(request(body))
    assert response.status == 202
    messages = published(world, "critical")
    assert response.body["messages"] == len(messages) > 1
    parts = [json.loads(m["Message"]) for m in messages]
    fingerprints = [a["fingerprint"] for part in parts for a in part["alerts"]]
    assert sorted(fingerprints) == sorted(a["fingerprint"] for a in body["alerts"])
    for part, message in zip(parts, messages, strict=True):
        assert part["groupKey"] == body["groupKey"] and part["status"] == "firing"
        assert len(message["Message"].encode()) < 256 * 1024


def test_split_body_keeps_a_single_giant_alert() -> None:
    body = alertmanager(1)
    body["alerts"][0]["annotations"]["description"] = "y" * 400_000
    [part] = split_body(body)
    assert len(part.encode()) < 256 * 1024
    assert json.loads(part)["alerts"][0]["labels"] == body["alerts"][0]["labels"]


def test_handler_from_environment_and_500_on_misconfiguration(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alertmanager_endpoint, "endpoint", None)
    monkeypatch.setenv("TOPIC_ARNS", json.dumps(world["topics"]))
    monkeypatch.setenv("AUTH_SECRET", "endpoint/auth")
    monkeypatch.setenv("RATE_LIMIT_TABLE", "endpoint")
    answer = alertmanager_endpoint.handler(request(alertmanager(1)), FakeContext())
    assert answer["statusCode"] == 202
    monkeypatch.setattr(alertmanager_endpoint, "endpoint", None)
    monkeypatch.delenv("RATE_LIMIT_TABLE")
    answer = alertmanager_endpoint.handler(request(alertmanager(1)), FakeContext())
    assert answer["statusCode"] == 500
    assert "RATE_LIMIT_TABLE" not in answer["body"]


def test_lone_surrogates_are_not_a_500(endpoint: Endpoint, world: dict[str, Any]) -> None:
    raw = json.dumps(alertmanager(1)).replace("HighLatency", "High\\ud800Latency").encode()
    response = endpoint.handle(request(None, raw=raw))
    assert response.status == 202
    [message] = published(world, "critical")
    assert "High\ufffdLatency" in json.loads(message["Message"])["groupLabels"]["alertname"]


def test_a_signed_retry_after_a_failed_publish_is_accepted(endpoint: Endpoint, clock: Clock) -> None:
    publish = endpoint.publish
    calls: list[str] = []

    def flaky(topic_arn: str, message: str, subject: str, attributes: Any) -> str:
        calls.append(topic_arn)
        if len(calls) == 1:
            raise ConnectionError("SNS unreachable")
        return publish(topic_arn, message, subject, attributes)

    endpoint.publish = flaky
    body = alertmanager(1)
    first = signed(body, KEYS[0], clock.now)
    with pytest.raises(ConnectionError):
        endpoint.handle(first)
    assert endpoint.handle(first).status == 202  # Alertmanager's retry of the 500
    assert endpoint.handle(first).status == 401  # and now it is a replay


@pytest.mark.parametrize(
    "secret",
    [
        '{"bearer_tokens": "s3cret-token-value-long-enough"}',  # a string iterated as a list gives "Bearer s"
        '{"hmac_keys": "k"}',
        '{"bearer_tokens": ["short"]}',
        '{"bearer_tokens": [["nested"]]}',
    ],
)
def test_endpoint_refuses_a_malformed_auth_secret(secret: str) -> None:
    from alertlib.endpoint import Credentials
    from alertlib.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as refused:
        Credentials.from_secret(secret)
    assert "s3cret" not in str(refused.value) and "nested" not in str(refused.value)


def test_endpoint_accepts_a_well_formed_auth_secret() -> None:
    from alertlib.endpoint import Credentials

    good = Credentials.from_secret('{"bearer_tokens": ["' + "t" * 16 + '"], "hmac_keys": ["' + "k" * 32 + '"]}')
    assert good.bearer_tokens == ("t" * 16,) and good.hmac_keys == ("k" * 32,)


# -- issue 9: bad input is a 400 with a one-line reason, never a 500 ------------------------------------------------

FIRING_ALERT = b'{"status":"firing","labels":{"alertname":"A"}}'


def _am(extra: bytes = b"", alerts: bytes = FIRING_ALERT) -> bytes:
    return b'{"receiver":"r","status":"firing"' + extra + b',"alerts":[' + alerts + b"]}"


def _nested(depth: int) -> bytes:
    return _am(b',"x":' + b"[" * depth + b"]" * depth)


BAD_INPUT = {
    "top-level array 100,000 deep": (b"[" * 100_000, "nested deeper"),
    "top-level object 100,000 deep": (b'{"a":' * 100_000, "nested deeper"),
    **{f"field {depth} deep": (_nested(depth), "nested deeper") for depth in (40, 300, 500, 700, 800, 900, 950, 1000)},
    "field 5,000 deep": (_nested(5000), "nested deeper"),
    "label 900 deep": (
        _am(alerts=b'{"status":"firing","labels":{"alertname":' + b"[" * 900 + b"]" * 900 + b"}}"),
        "nested deeper",
    ),
    "invalid UTF-8": (_am(b',"groupLabels":{"a":"\xff\xfe"}'), "invalid JSON"),
    "1e999999": (_am(b',"truncatedAlerts":1e999999'), "number out of range"),
    "-1e999999": (_am(b',"truncatedAlerts":-1e999999'), "number out of range"),
    "NaN": (_am(b',"truncatedAlerts":NaN'), "NaN"),
    "Infinity": (_am(b',"truncatedAlerts":Infinity'), "Infinity"),
    "5,000 digits": (_am(b',"truncatedAlerts":' + b"9" * 5000), "digits"),
    "duplicate key": (_am(b',"status":"resolved"'), "duplicate key"),
    "duplicate label": (_am(alerts=b'{"status":"firing","labels":{"alertname":"A","alertname":"B"}}'), "duplicate key"),
    "a string": (b'"alerts"', "JSON object"),
    "null": (b"null", "JSON object"),
    "alerts an object": (
        _am().replace(b'"alerts":[' + FIRING_ALERT + b"]", b'"alerts":{"0":' + FIRING_ALERT + b"}"),
        "alerts list",
    ),
    "alert a string": (_am(alerts=b'"an alert"'), "not an object"),
    "label a list": (_am(alerts=b'{"status":"firing","labels":{"alertname":"A","n":["x"]}}'), "labels must map"),
    "labels a list": (_am(alerts=b'{"status":"firing","labels":["alertname"]}'), "labels"),
    "annotation an object": (_am(alerts=FIRING_ALERT[:-1] + b',"annotations":{"n":{"a":"b"}}}'), "annotations must"),
    "groupLabels a list": (_am(b',"groupLabels":["alertname"]'), "groupLabels must map names to strings"),
}


@pytest.mark.parametrize(("raw", "reason"), list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input_is_a_400_with_a_one_line_reason(
    endpoint: Endpoint, world: dict[str, Any], raw: bytes, reason: str
) -> None:
    response = endpoint.handle(request(None, raw=raw))
    assert response.status == 400, response.body
    assert reason in response.body["error"]
    assert "\n" not in response.body["error"] and len(response.body["error"]) <= 200
    assert published(world, "critical") == []


def test_a_400_is_logged_and_counted_by_the_handler(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(alertmanager_endpoint, "endpoint", None)
    monkeypatch.setenv("TOPIC_ARNS", json.dumps(world["topics"]))
    monkeypatch.setenv("AUTH_SECRET", "endpoint/auth")
    monkeypatch.setenv("RATE_LIMIT_TABLE", "endpoint")
    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(alertmanager_endpoint.logger, "info", lambda msg, extra: logged.append((msg, extra)))
    for raw in (_nested(950), b"[" * 100_000, _am(b',"truncatedAlerts":NaN')):
        answer = alertmanager_endpoint.handler(request(None, raw=raw), FakeContext())
        assert answer["statusCode"] == 400
        reason = json.loads(answer["body"])["error"]
        assert logged.pop() == ("answered", {"status": 400, "reason": reason})
        out = capsys.readouterr()
        assert '"PayloadRejected":[1.0]' in out.out
        assert "Traceback" not in out.out + out.err + answer["body"]


def test_every_part_fits_sns_with_its_subject_and_attributes(endpoint: Endpoint, world: dict[str, Any]) -> None:
    from alertlib.endpoint import SNS_LIMIT, sns_bytes

    body = alertmanager(3, externalURL="http://am.example.com/" + "x" * 300_000)
    body["commonLabels"].update({f"l{i}": "v" * 1000 for i in range(270)})
    body["alerts"][0]["labels"]["pod"] = "🚨" * 20_000 + "警" * 100_000
    body["alerts"][0]["labels"]["severity"] = "critical\x00\u2603" + "!" * 200  # SNS wants a printable attribute
    sent: list[tuple[str, str, dict[str, str]]] = []
    publish = endpoint.publish

    def recording(topic_arn: str, message: str, subject: str, attributes: Any) -> str:
        sent.append((message, subject, dict(attributes)))
        return publish(topic_arn, message, subject, attributes)

    endpoint.publish = recording
    response = endpoint.handle(request(None, raw=json.dumps(body, ensure_ascii=False).encode()))
    assert response.status == 202
    assert sum(len(json.loads(m)["alerts"]) for m, _, _ in sent) == 3
    for message, subject, attributes in sent:
        assert sns_bytes(message, subject, attributes) <= SNS_LIMIT
        for value in (subject, *attributes.values()):
            assert value and value.isascii() and value.isprintable() and len(value) <= 100


# -- issue 9: a failed publish returns what it took -----------------------------------------------------------------


def _failing(endpoint: Endpoint, fail: list[bool], before: Any = None) -> None:
    publish = endpoint.publish

    def flaky(topic_arn: str, message: str, subject: str, attributes: Any) -> str:
        if fail[0]:
            if before is not None:
                before()
            raise ConnectionError("SNS unreachable")
        return publish(topic_arn, message, subject, attributes)

    endpoint.publish = flaky


def _counter(world: dict[str, Any], minute: int) -> int | None:
    items = world["dynamodb"].scan(TableName="endpoint")["Items"]
    found = [i for i in items if i["pk"]["S"].startswith("rate#") and i["pk"]["S"].endswith(f"#{minute}")]
    return int(found[0]["alerts"]["N"]) if found else None


def test_a_failed_publish_returns_its_rate_limit_units(endpoint: Endpoint, world: dict[str, Any]) -> None:
    fail = [True]
    _failing(endpoint, fail)
    body = alertmanager(60)
    with pytest.raises(ConnectionError):
        endpoint.handle(request(body))
    assert _counter(world, int(NOW // 60)) == 0
    fail[0] = False
    assert endpoint.handle(request(body)).status == 202  # Alertmanager's retry in the same minute
    assert endpoint.handle(request(alertmanager(40, receiver="other"))).status == 202  # another group, same sender
    assert _counter(world, int(NOW // 60)) == 100
    assert endpoint.handle(request(alertmanager(1))).status == 429  # and the limit still holds


def test_a_failed_signed_publish_returns_its_units_and_its_signature(endpoint: Endpoint, clock: Clock) -> None:
    fail = [True]
    _failing(endpoint, fail)
    first = signed(alertmanager(100), KEYS[0], clock.now)
    with pytest.raises(ConnectionError):
        endpoint.handle(first)
    fail[0] = False
    assert endpoint.handle(first).status == 202
    assert endpoint.handle(first).status == 401  # now a replay


def test_a_refund_after_the_minute_rolled_over_touches_no_window(
    endpoint: Endpoint, world: dict[str, Any], clock: Clock
) -> None:
    endpoint.handle(request(alertmanager(10)))
    fail = [True]

    def roll_over() -> None:
        clock.now += 30  # the publish failed after the window ended

    _failing(endpoint, fail, before=roll_over)
    with pytest.raises(ConnectionError):
        endpoint.handle(request(alertmanager(20)))
    assert _counter(world, int(NOW // 60)) == 30  # the old window keeps what it counted
    assert _counter(world, int(NOW // 60) + 1) is None  # and the new one was not touched


def test_a_refund_never_takes_a_counter_below_zero(world: dict[str, Any]) -> None:
    limiter = DynamoRateLimiter("endpoint", 100)
    assert limiter.consume("s", 5, NOW) is None
    limiter.refund("s", 7, NOW)
    assert _counter(world, int(NOW // 60)) == 5
    limiter.refund("s", 5, NOW)
    limiter.refund("s", 5, NOW)
    assert _counter(world, int(NOW // 60)) == 0
    limiter.refund("never-seen", 5, NOW)  # no item: nothing created
    assert len(world["dynamodb"].scan(TableName="endpoint")["Items"]) == 1


# -- issue 9: a partial publish, retried, loses nothing and repeats nothing ----------------------------------------


def _three_parts() -> dict[str, Any]:
    body = alertmanager(240)
    for alert in body["alerts"]:
        alert["annotations"]["description"] = "x" * 2500
    return body


def test_a_retry_after_a_partial_publish_publishes_each_part_once(
    endpoint: Endpoint, world: dict[str, Any], clock: Clock
) -> None:
    body = _three_parts()
    calls: list[str] = []
    publish = endpoint.publish

    def second_fails_once(topic_arn: str, message: str, subject: str, attributes: Any) -> str:
        calls.append(attributes["part"])
        if len(calls) == 2:
            raise ConnectionError("SNS unreachable")
        return publish(topic_arn, message, subject, attributes)

    endpoint.publish = second_fails_once
    with pytest.raises(ConnectionError):
        endpoint.handle(request(body))
    assert calls == ["1/3", "2/3"]
    response = endpoint.handle(request(body))  # Alertmanager's retry of the 500
    assert response.status == 202 and response.body["messages"] == 3
    assert calls == ["1/3", "2/3", "2/3", "3/3"]  # part 1 went the first time: not again
    fingerprints = [a["fingerprint"] for m in published(world, "critical") for a in json.loads(m["Message"])["alerts"]]
    assert sorted(fingerprints) == sorted(a["fingerprint"] for a in body["alerts"])  # each alert once: none lost
    # The record of part 1 was used up: the same body sent again later (a repeat notification) is published whole.
    clock.now += 60
    assert endpoint.handle(request(body)).status == 202
    assert calls[4:] == ["1/3", "2/3", "3/3"]


def test_a_partial_publish_with_the_marker_store_down_still_loses_nothing(
    endpoint: Endpoint, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    body = _three_parts()
    fail = [True]
    publish = endpoint.publish
    calls: list[str] = []

    def last_fails(topic_arn: str, message: str, subject: str, attributes: Any) -> str:
        calls.append(attributes["part"])
        if fail[0] and attributes["part"] == "3/3":
            raise ConnectionError("SNS unreachable")
        return publish(topic_arn, message, subject, attributes)

    def refused(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutItem")

    endpoint.publish = last_fails
    monkeypatch.setattr(endpoint.limiter.client, "put_item", refused)  # type: ignore[attr-defined]
    with pytest.raises(ConnectionError):
        endpoint.handle(request(body))
    fail[0] = False
    assert endpoint.handle(request(body)).status == 202
    fingerprints = [a["fingerprint"] for m in published(world, "critical") for a in json.loads(m["Message"])["alerts"]]
    assert set(fingerprints) == {a["fingerprint"] for a in body["alerts"]}  # duplicates, but nothing lost


def test_a_published_part_record_is_taken_once_and_not_after_it_expired(world: dict[str, Any]) -> None:
    from alertlib.endpoint import PUBLISHED_SECONDS

    limiter = DynamoRateLimiter("endpoint", 100)
    assert not limiter.take_published("a", NOW)
    limiter.remember_published(["a", "b"], NOW)
    assert limiter.take_published("a", NOW + 10)
    assert not limiter.take_published("a", NOW + 11)  # once
    assert not limiter.take_published("b", NOW + PUBLISHED_SECONDS + 1)  # DynamoDB's TTL may not have run yet
