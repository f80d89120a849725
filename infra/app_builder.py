"""Builds the whole CDK app for one environment: the alerting stack, then the alarm stacks beside it."""

from __future__ import annotations

from aws_cdk import Annotations, App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra.alarm_specs import plan_alarms, plan_notes
from infra.config import EnvironmentConfig
from infra.stacks.alarms import AlarmsStack, chunk
from infra.stacks.alerting import AlertingStack


def build(app: App, config: EnvironmentConfig, *, nag: bool = True) -> list[AlarmsStack | AlertingStack]:
    env = Environment(account=config.account, region=config.region)
    alerting = AlertingStack(
        app, f"{config.name}-alerting", config=config, env=env, description=f"{config.name}: alerting core"
    )
    stacks: list[AlarmsStack | AlertingStack] = [alerting]
    specs = plan_alarms(config)
    for note in plan_notes(config):
        Annotations.of(alerting).add_info(note)
    for service in ("rds", "elasticache", "ecs"):
        parts = chunk([s for s in specs if s.service == service])
        for index, part in enumerate(parts, start=1):
            suffix = f"-{index}" if len(parts) > 1 else ""
            stack = AlarmsStack(
                app,
                f"{config.name}-alarms-{service}{suffix}",
                config=config,
                specs=part,
                env=env,
                description=f"{config.name}: {service} alarms ({len(part)})",
            )
            stack.add_stack_dependency(alerting)
            stacks.append(stack)
    for key, value in {"environment": config.name, "project": "alert-forwarding", **config.tags}.items():
        Tags.of(app).add(key, value)
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks
