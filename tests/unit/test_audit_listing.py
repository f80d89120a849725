"""The dead-alarm audit asks ListMetrics about each silent metric: not listed in two weeks is "never published" (a
wrong name or dimension, a resource that does not exist), apart from "published but silent"; counts AWS publishes
only when not zero are absent for a healthy load balancer, which is not a dead alarm while another input is
published; the look-ups are bounded in calls, pages and time, and a failure leaves the old reason, never silence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alertlib.audit import (
    MAX_LIST_FILTERS,
    AlarmInfo,
    CloudWatchReader,
    Listing,
    ListingBudget,
    MetricRef,
    audit_alarms,
    judge,
)
from tests.unit.test_audit import DAY, NOW, FakeCloudWatch, metric_alarm

LB = (("LoadBalancer", "app/dev-web/50dc6c495c0c9188"),)


def _alb(name: str) -> MetricRef:
    return MetricRef(namespace="AWS/ApplicationELB", name=name, dimensions=LB, stat="Sum", period=3600)


TARGET, ELB, TOTAL = _alb("HTTPCode_Target_5XX_Count"), _alb("HTTPCode_ELB_5XX_Count"), _alb("RequestCount")


def _slo_alarm(*metrics: MetricRef, state: str = "OK") -> AlarmInfo:
    return AlarmInfo(name="dev-slo-api-availability-1h-5m-over-1h", arn="arn", state=state,
                     since=NOW - timedelta(days=3), metrics=metrics)  # fmt: skip


def test_audit_listing_never_published_is_said_apart_from_silent_lately() -> None:
    alarms = [metric_alarm("prod-rds-typo"), metric_alarm("prod-rds-stopped"), metric_alarm("prod-rds-healthy")]
    fake = FakeCloudWatch(alarms, silent={"prod-rds-typo", "prod-rds-stopped"}, unlisted={"prod-rds-typo"})
    audit = audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW)
    reasons = {f.alarm: f.reason for f in audit.findings}
    assert reasons == {
        "prod-rds-typo": "in OK for 10 days: never published: CloudWatch lists no AWS/RDS CPUUtilization "
        "DBInstanceIdentifier=prod-rds-typo in 14 days",
        "prod-rds-stopped": "in OK for 10 days: no datapoints for AWS/RDS CPUUtilization "
        "DBInstanceIdentifier=prod-rds-stopped in 1 day",
    }
    assert {f.alarm for f in audit.findings if f.never_published} == {"prod-rds-typo"}
    asked = [c["Dimensions"][0]["Value"] for c in fake.list_calls]
    assert sorted(asked) == ["prod-rds-stopped", "prod-rds-typo"]  # only the silent ones, each once
    assert fake.list_calls[0]["Namespace"] == "AWS/RDS" and fake.list_calls[0]["MetricName"] == "CPUUtilization"
    assert audit.listing.unchecked == 0 and audit.listing.error is None


def test_audit_listing_5xx_counts_never_listed_beside_a_published_request_count_are_not_the_reason() -> None:
    """A never-erroring ALB: its 5xx counts are not even listed. With requests in the window the alarm works; with
    none in a day but published lately, RequestCount alone is the reason."""
    listing = Listing(listed=frozenset({TOTAL}), unlisted=frozenset({TARGET, ELB}))
    alarm = _slo_alarm(TARGET, ELB, TOTAL)
    assert judge(alarm, {TARGET, ELB}, DAY, NOW, listing) is None
    finding = judge(alarm, {TARGET, ELB, TOTAL}, DAY, NOW, listing)
    assert finding is not None and not finding.never_published
    assert finding.reason == (
        "in OK for 3 days: no datapoints for AWS/ApplicationELB RequestCount "
        "LoadBalancer=app/dev-web/50dc6c495c0c9188 in 1 day"
    )


def test_audit_listing_request_count_never_published_is_dead_and_named() -> None:
    listing = Listing(unlisted=frozenset({TARGET, ELB, TOTAL}))
    finding = judge(_slo_alarm(TARGET, ELB, TOTAL), {TARGET, ELB, TOTAL}, DAY, NOW, listing)
    assert finding is not None and finding.never_published
    assert finding.reason.startswith("in OK for 3 days: never published: CloudWatch lists no ")
    assert "RequestCount" in finding.reason and "(AWS publishes it only when not zero)" not in finding.reason


def test_audit_listing_a_5xx_count_alone_never_listed_says_it_is_published_only_when_not_zero() -> None:
    finding = judge(_slo_alarm(ELB), {ELB}, DAY, NOW, Listing(unlisted=frozenset({ELB})))
    assert finding is not None
    assert finding.reason.endswith("in 14 days (AWS publishes it only when not zero)")


def test_audit_listing_matches_the_exact_dimension_set() -> None:
    """ListMetrics also answers metrics with more dimensions (the same load balancer per target group): those are
    not the alarm's metric."""

    class Client:
        calls = 0

        def list_metrics(self, **kwargs: Any) -> dict[str, Any]:
            Client.calls += 1
            wider = [*kwargs["Dimensions"], {"Name": "TargetGroup", "Value": "targetgroup/web/0a1b"}]
            return {"Metrics": [{"Namespace": kwargs["Namespace"], "MetricName": kwargs["MetricName"],
                                 "Dimensions": wider}]}  # fmt: skip

    listing = CloudWatchReader(Client()).listed([TOTAL])
    assert (listing.listed, listing.unlisted, Client.calls) == (frozenset(), frozenset({TOTAL}), 1)


class Paged:
    """ListMetrics answering `pages` pages of 500 other metrics before (or without) the one asked about."""

    def __init__(self, pages: int, found_on: int | None) -> None:
        self.pages, self.found_on = pages, found_on
        self.calls: list[dict[str, Any]] = []

    def list_metrics(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        number = len(self.calls)
        others = [
            {"Namespace": "AWS/RDS", "MetricName": "CPUUtilization", "Dimensions": [{"Name": "Db", "Value": f"{i}"}]}
            for i in range(500)
        ]
        if number == self.found_on:
            others.append({"Namespace": "AWS/RDS", "MetricName": "CPUUtilization", "Dimensions": []})
        page: dict[str, Any] = {"Metrics": others}
        if number < self.pages:
            page["NextToken"] = f"t{number}"
        return page


WIDE = MetricRef(namespace="AWS/RDS", name="CPUUtilization", dimensions=(), stat="Average", period=60)


def test_audit_listing_follows_pages_within_its_budget() -> None:
    client = Paged(pages=3, found_on=3)
    listing = CloudWatchReader(client).listed([WIDE])
    assert listing.listed == frozenset({WIDE}) and len(client.calls) == 3
    assert [c.get("NextToken") for c in client.calls] == [None, "t1", "t2"]
    assert "Dimensions" not in client.calls[0]
    client = Paged(pages=3, found_on=None)
    assert CloudWatchReader(client).listed([WIDE]).unlisted == frozenset({WIDE})
    client = Paged(pages=10, found_on=9)  # more pages than a metric may take: not settled, not "never published"
    listing = CloudWatchReader(client).listed([WIDE], ListingBudget(pages=4))
    assert (listing.listed, listing.unlisted, listing.unchecked, len(client.calls)) == (frozenset(), frozenset(), 1, 4)


def _rds(instance: str, stat: str = "Average") -> MetricRef:
    return MetricRef(namespace="AWS/RDS", name="CPUUtilization", dimensions=(("DBInstanceIdentifier", instance),),
                     stat=stat, period=60)  # fmt: skip


def test_audit_listing_stops_at_its_call_budget_and_its_deadline() -> None:
    fake = FakeCloudWatch([], unlisted={f"db-{i}" for i in range(10)})
    metrics = [_rds(f"db-{i}") for i in range(10)] + [_rds("db-0", "Maximum")]  # the same series twice: asked once
    listing = CloudWatchReader(fake).listed(metrics, ListingBudget(calls=4))
    assert len(fake.list_calls) == 4 and listing.unchecked == 6
    assert len({m.series for m in listing.unlisted}) == 4 and len(listing.unlisted) == 5
    assert {m.stat for m in listing.unlisted if m.dimensions[0][1] == "db-0"} == {"Average", "Maximum"}
    fake = FakeCloudWatch([], unlisted={f"db-{i}" for i in range(10)})
    clock = ListingBudget(seconds_left=lambda: 2.5 - len(fake.list_calls))  # each call takes a second
    listing = CloudWatchReader(fake).listed(metrics, clock)
    assert len(fake.list_calls) == 3 and listing.unchecked == 7  # time is checked before each call


def test_audit_listing_failure_keeps_the_old_reason_and_says_why() -> None:
    from botocore.exceptions import ClientError

    class Refusing(FakeCloudWatch):
        def list_metrics(self, **kwargs: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListMetrics")

    fake = Refusing([metric_alarm("prod-rds-typo")], silent={"prod-rds-typo"})
    audit = audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW)
    assert [f.reason for f in audit.findings] == [
        "in OK for 10 days: no datapoints for AWS/RDS CPUUtilization DBInstanceIdentifier=prod-rds-typo in 1 day"
    ]
    assert (audit.listing.error, audit.listing.unchecked) == ("AccessDenied", 1)


def test_audit_listing_leaves_sparse_namespaces_and_healthy_alarms_unasked() -> None:
    alarms = [
        metric_alarm("prod-lambda-idle", namespace="AWS/Lambda", metric="Errors", dims={"FunctionName": "idle"}),
        metric_alarm("prod-rds-healthy"),
    ]
    fake = FakeCloudWatch(alarms, silent={"idle"}, unlisted={"idle"})
    audit = audit_alarms(CloudWatchReader(fake), prefix="prod-", dead_after=DAY, now=NOW)
    assert audit.findings == () and fake.list_calls == []


def test_audit_listing_filters_at_most_ten_dimensions_and_matches_all() -> None:
    dims = tuple((f"D{i:02d}", f"v{i}") for i in range(12))
    many = MetricRef(namespace="Team/Own", name="Jobs", dimensions=dims, stat="Sum", period=60)
    fake = FakeCloudWatch([])
    listing = CloudWatchReader(fake).listed([many])
    [call] = fake.list_calls
    assert len(call["Dimensions"]) == MAX_LIST_FILTERS
    assert listing.unlisted == frozenset({many})  # the fake lists the 10 filtered ones: not the alarm's 12


def test_audit_listing_a_published_metric_silent_in_the_alarms_unit_says_to_check_the_unit() -> None:
    seconds = MetricRef(namespace="AWS/RDS", name="ReadLatency", dimensions=(("DBInstanceIdentifier", "orders"),),
                        stat="p99", period=60, unit="Milliseconds")  # fmt: skip
    alarm = AlarmInfo(name="prod-rds-orders-ReadLatency", arn="arn", state="OK", since=NOW - DAY, metrics=(seconds,))
    finding = judge(alarm, {seconds}, DAY, NOW, Listing(listed=frozenset({seconds})))
    assert finding is not None and finding.reason.endswith(
        "in 1 day; it is published: check the alarm's unit (Milliseconds)"
    )
    finding = judge(alarm, {seconds}, DAY, NOW, Listing(unlisted=frozenset({seconds})))
    assert finding is not None and "unit" not in finding.reason
