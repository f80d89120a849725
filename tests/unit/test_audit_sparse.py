"""The dead-alarm audit and counts AWS publishes only when they are not zero (an SLO's ALB 5xx count): silent
beside an input with data is normal; silent alone, or a dense input silent, is still an alarm that cannot fire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alertlib.audit import AlarmInfo, MetricRef, judge

NOW = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
LB = (("LoadBalancer", "app/dev-web/50dc6c495c0c9188"),)
BAD = MetricRef(
    namespace="AWS/ApplicationELB", name="HTTPCode_Target_5XX_Count", dimensions=LB, stat="Sum", period=3600
)
TOTAL = MetricRef(namespace="AWS/ApplicationELB", name="RequestCount", dimensions=LB, stat="Sum", period=3600)
GATEWAY = MetricRef(namespace="AWS/ApiGateway", name="5XXError", dimensions=(("ApiName", "x"),), stat="Sum", period=60)


def _alarm(*metrics: MetricRef) -> AlarmInfo:
    return AlarmInfo(name="dev-slo-api-availability-1h-5m-over-1h", arn="arn", state="OK",
                     since=NOW - timedelta(days=3), metrics=metrics)  # fmt: skip


def test_audit_sparse_5xx_count_silent_beside_request_count_is_not_dead() -> None:
    assert judge(_alarm(BAD, TOTAL), {BAD}, timedelta(hours=24), NOW) is None


def test_audit_every_input_silent_is_dead() -> None:
    finding = judge(_alarm(BAD, TOTAL), {BAD, TOTAL}, timedelta(hours=24), NOW)
    assert finding is not None
    assert "HTTPCode_Target_5XX_Count" in finding.reason and "RequestCount" in finding.reason


def test_audit_dense_input_silent_beside_data_is_dead() -> None:
    finding = judge(_alarm(GATEWAY, TOTAL), {GATEWAY}, timedelta(hours=24), NOW)
    assert finding is not None and "5XXError" in finding.reason


def test_audit_sparse_count_alone_silent_is_dead() -> None:
    assert judge(_alarm(BAD), {BAD}, timedelta(hours=24), NOW) is not None
