"""The environment's SLO burn-rate alarms and its dashboard, beside the alerting stack.

A stack holds at most `SLOS_PER_STACK` SLOs (up to 8 window pairs each: 24 resources an SLO, well under
CloudFormation's 500) and one dashboard (`<env>-alerting`, then `<env>-alerting-2`, …: a dashboard holds at most 500
widgets, an SLO takes about 12). The first dashboard also shows the pipeline's own health. Topics are named, not
imported, as in the alarm stacks.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import DESTINATIONS, EnvironmentConfig
from infra.constructs.dashboard import AlertingDashboard, dashboard_name, dashboard_url
from infra.constructs.slo_alarms import SloAlarms
from infra.slo import SloDefinition

SLOS_PER_STACK = 16


class SloStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        slos: list[SloDefinition],
        part: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        suffix = f"-{part}" if part > 1 else ""
        name = f"{dashboard_name(config.name)}{suffix}"
        url = dashboard_url(config.name, config.region, config.partition) + suffix
        topic_arns: dict[str, str] = {
            str(topic): self.format_arn(service="sns", resource=config.topic_name(topic)) for topic in config.topics
        }
        self.slo_alarms = SloAlarms(
            self, "SloAlarms", env_name=config.name, slos=slos, topic_arns=topic_arns, dashboard_url=url
        )
        destinations = [d for d in DESTINATIONS if config.forwarder_routes(d)[0]] if part == 1 else []
        self.dashboard = AlertingDashboard(
            self,
            "Dashboard",
            env_name=config.name,
            dashboard_name=name,
            slos=slos,
            destinations=destinations,
            pipeline=part == 1,
            alarm_arn_prefix=f"arn:{config.partition}:cloudwatch:{config.region}:{config.account}:alarm:",
        )
        CfnOutput(self, "DashboardUrl", value=url, description="The SLOs and the pipeline's health")


def slo_parts(slos: list[SloDefinition], size: int = SLOS_PER_STACK) -> list[list[SloDefinition]]:
    """SLOs in slices of `size`; always one slice, so the dashboard of the pipeline exists without SLOs."""
    return [slos[i : i + size] for i in range(0, len(slos), size)] or [[]]
