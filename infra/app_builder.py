"""Builds the whole CDK app for one environment: the alerting stack, then the alarm stacks beside it."""

from __future__ import annotations

from aws_cdk import Annotations, App, Environment, Tags, Validations
from cdk_nag import AwsSolutionsChecks

from infra.alarm_specs import plan_alarms, plan_notes
from infra.config import ConfigError, EnvironmentConfig
from infra.config_checks import check
from infra.stacks.alarms import AlarmsStack, chunk
from infra.stacks.alerting import AlertingStack
from infra.stacks.slos import SloStack, slo_parts


def build(app: App, config: EnvironmentConfig, *, nag: bool = True) -> list[AlarmsStack | AlertingStack | SloStack]:
    mistake = check(config)  # `load_config` already did; a typed config object built in code has not
    if mistake is not None:
        raise ConfigError(f"config {config.name}: {mistake}")
    env = Environment(account=config.account, region=config.region)
    alerting = AlertingStack(
        app, f"{config.name}-alerting", config=config, env=env, description=f"{config.name}: alerting core"
    )
    stacks: list[AlarmsStack | AlertingStack | SloStack] = [alerting]
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
    slo_slices = slo_parts(list(config.slos))
    for index, slos in enumerate(slo_slices, start=1):
        suffix = f"-{index}" if len(slo_slices) > 1 else ""
        slo_stack = SloStack(
            app,
            f"{config.name}-slos{suffix}",
            config=config,
            slos=slos,
            part=index,
            env=env,
            description=f"{config.name}: SLO burn-rate alarms ({len(slos)} SLOs) and the alerting dashboard",
        )
        slo_stack.add_stack_dependency(alerting)  # the topics its composites notify
        stacks.append(slo_stack)
    for key, value in {"environment": config.name, "project": "alert-forwarding", **config.tags}.items():
        Tags.of(app).add(key, value)
    if nag:
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stacks
