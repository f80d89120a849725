"""Sibling stacks of CloudWatch alarms, each well under CloudFormation's 500 resources and 1 MB."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from infra.alarm_specs import AlarmSpec
from infra.config import EnvironmentConfig
from infra.constructs.alarms import Alarms

ALARMS_PER_STACK = 350  # about 640 KB of template at most


class AlarmsStack(Stack):
    """A slice of one service's alarms. Topics are named, not imported, so no stack waits on 500 exports."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, specs: list[AlarmSpec], **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        topic_arns: dict[str, str] = {
            topic: self.format_arn(service="sns", resource=config.topic_name(topic)) for topic in config.topics
        }
        self.alarms = Alarms(
            self, "Alarms", specs=specs, topic_arns=topic_arns, runbook_base_url=config.runbook_base_url
        )


def chunk(specs: list[AlarmSpec], size: int = ALARMS_PER_STACK) -> list[list[AlarmSpec]]:
    return [specs[i : i + size] for i in range(0, len(specs), size)]
