"""The IAM statements kept beside the code that makes the calls (`functions/alertlib/*_policy_statements`), as CDK
statements: the stacks grant exactly what those functions return, never a hand-kept copy of it.

The Lambda asset cannot import `infra/`, so this is the one place where `infra/` reads `functions/alertlib`: the
statement builders are pure (no AWS call, no environment read), and importing them at synth is cheap.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any

from aws_cdk import aws_iam as iam

from infra.bundling import FUNCTIONS  # the asset root: the wheel's infra/functions, else the repository's

if str(FUNCTIONS) not in sys.path:  # `cdk synth` runs app.py from the root; pytest already has it (pyproject)
    sys.path.append(str(FUNCTIONS))

from alertlib.actions import mute_policy_statements
from alertlib.graph import graph_policy_statements
from alertlib.interactions import (
    action_worker_policy_statements,
    pagerduty_webhooks_policy_statements,
    slack_interactions_policy_statements,
)
from alertlib.recheck import recheck_policy_statements
from alertlib.slack_api import usergroup_app, usergroups_policy_statements
from alertlib.slo_burn import slo_query_policy_statements
from alertlib.threads import thread_policy_statements

__all__ = [
    "action_worker_policy_statements",
    "graph_policy_statements",
    "mute_policy_statements",
    "pagerduty_webhooks_policy_statements",
    "recheck_policy_statements",
    "slack_interactions_policy_statements",
    "slo_query_policy_statements",
    "statements",
    "thread_policy_statements",
    "usergroup_app",
    "usergroups_policy_statements",
]


def statements(prefix: str, documents: Sequence[dict[str, Any]]) -> list[iam.PolicyStatement]:
    """Each statement of `documents` as a CDK statement, with a Sid (`<prefix>1`, `<prefix>2`, …) so that a
    refusal in CloudTrail or a test names the code path it serves. Resources may be CDK tokens (ARNs of this
    stack's resources)."""
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]{0,60}", prefix):
        raise ValueError(f"{prefix!r}: a statement id is PascalCase letters and digits")
    found: list[iam.PolicyStatement] = []
    for index, document in enumerate(documents, start=1):
        unknown = set(document) - {"Effect", "Action", "Resource"}
        if unknown or document.get("Effect") != "Allow":
            raise ValueError(f"{prefix}: only Allow statements of Action and Resource are expected, not {unknown}")
        actions, resources = document["Action"], document["Resource"]
        found.append(
            iam.PolicyStatement(
                sid=f"{prefix}{index}" if len(documents) > 1 else prefix,
                actions=[actions] if isinstance(actions, str) else list(actions),
                resources=[resources] if isinstance(resources, str) else list(resources),
            )
        )
    return found
