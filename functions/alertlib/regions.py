"""AWS regions: the code behind the display name a CloudWatch notification carries, and the partition of a code.

CloudWatch's SNS notification names its region by display name only (`"Region": "US East (N. Virginia)"`), in the
spelling of the day it was sent: "US - N. Virginia" and "EU - Ireland" (recorded in 2013-2017), "EU (London)"
(recorded 2019-2022), and botocore's current "Europe (London)" style, all accepted. The table is static:
botocore's `endpoints.json` is the authority, but reading it costs a 1.2 MB JSON load (17 ms) on every cold start,
ties the asset to botocore's data layout and to the runtime's botocore version. `tests/unit/test_parse.py` checks
the table against the installed botocore, so a new region fails a test instead of going unnoticed.
"""

from __future__ import annotations

import re

# Region code -> every display name CloudWatch has used for it. The first is botocore's current description.
_NAMES: dict[str, tuple[str, ...]] = {
    # aws
    "af-south-1": ("Africa (Cape Town)",),
    "ap-east-1": ("Asia Pacific (Hong Kong)",),
    "ap-east-2": ("Asia Pacific (Taipei)",),
    "ap-northeast-1": ("Asia Pacific (Tokyo)",),
    "ap-northeast-2": ("Asia Pacific (Seoul)",),
    "ap-northeast-3": ("Asia Pacific (Osaka)", "Asia Pacific (Osaka-Local)"),
    "ap-south-1": ("Asia Pacific (Mumbai)",),
    "ap-south-2": ("Asia Pacific (Hyderabad)",),
    "ap-southeast-1": ("Asia Pacific (Singapore)",),
    "ap-southeast-2": ("Asia Pacific (Sydney)",),
    "ap-southeast-3": ("Asia Pacific (Jakarta)",),
    "ap-southeast-4": ("Asia Pacific (Melbourne)",),
    "ap-southeast-5": ("Asia Pacific (Malaysia)",),
    "ap-southeast-6": ("Asia Pacific (New Zealand)",),
    "ap-southeast-7": ("Asia Pacific (Thailand)",),
    "ca-central-1": ("Canada (Central)",),
    "ca-west-1": ("Canada West (Calgary)",),
    "eu-central-1": ("Europe (Frankfurt)", "EU (Frankfurt)"),
    "eu-central-2": ("Europe (Zurich)", "EU (Zurich)"),
    "eu-north-1": ("Europe (Stockholm)", "EU (Stockholm)"),
    "eu-south-1": ("Europe (Milan)", "EU (Milan)"),
    "eu-south-2": ("Europe (Spain)", "EU (Spain)"),
    "eu-west-1": ("Europe (Ireland)", "EU (Ireland)"),
    "eu-west-2": ("Europe (London)", "EU (London)"),
    "eu-west-3": ("Europe (Paris)", "EU (Paris)"),
    "il-central-1": ("Israel (Tel Aviv)",),
    "me-central-1": ("Middle East (UAE)",),
    "me-south-1": ("Middle East (Bahrain)",),
    "mx-central-1": ("Mexico (Central)",),
    "sa-east-1": ("South America (Sao Paulo)", "South America (São Paulo)"),
    "us-east-1": ("US East (N. Virginia)", "US - N. Virginia"),
    "us-east-2": ("US East (Ohio)",),
    "us-west-1": ("US West (N. California)",),
    "us-west-2": ("US West (Oregon)",),
    # aws-cn
    "cn-north-1": ("China (Beijing)",),
    "cn-northwest-1": ("China (Ningxia)",),
    # aws-us-gov
    "us-gov-east-1": ("AWS GovCloud (US-East)",),
    "us-gov-west-1": ("AWS GovCloud (US-West)", "AWS GovCloud (US)"),
    # isolated partitions and the European Sovereign Cloud
    "us-iso-east-1": ("US ISO East",),
    "us-iso-west-1": ("US ISO WEST",),
    "us-isob-east-1": ("US ISOB East (Ohio)",),
    "us-isob-west-1": ("US ISOB West",),
    "eu-isoe-west-1": ("EU ISOE West",),
    "us-isof-east-1": ("US ISOF EAST",),
    "us-isof-south-1": ("US ISOF SOUTH",),
    "eusc-de-east-1": ("AWS European Sovereign Cloud (Germany)",),
}

# Partition by region code, most specific prefix first (botocore's `regionRegex` per partition).
_PARTITIONS = (
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
    ("cn-", "aws-cn"),
)
REGION_CODE = re.compile(r"[a-z]{2,4}(-[a-z]+)+-\d{1,2}")
_MAX_NAME = 80  # the longest display name is 38 characters; anything far longer is not one


def _key(name: str) -> str:
    """One spelling for lookups: case, spaces, accents, an ` - ` for parentheses and a trailing "Region" ignored."""
    text = " ".join(name.replace("ã", "a").replace("Ã", "A").split()).casefold()
    if text.endswith(" region"):
        text = text[: -len(" region")]
    if "(" not in text and " - " in text:  # "EU - Ireland", "US West - Oregon": the spelling before 2016
        area, _, place = text.partition(" - ")
        text = f"{area} ({place})"
    return text


_BY_NAME: dict[str, str] = {_key(name): code for code, names in _NAMES.items() for name in names}


def region_from_name(name: object) -> str | None:
    """The region code of a display name ("EU (London)" -> "eu-west-2"), or of a code itself; None when unknown."""
    if not isinstance(name, str) or not name or len(name) > _MAX_NAME:
        return None
    text = name.strip()
    if REGION_CODE.fullmatch(text):
        return text
    return _BY_NAME.get(_key(text))


def partition_of(region: str) -> str:
    """`aws`, `aws-cn`, `aws-us-gov` or an isolated partition, from a region code."""
    return next((partition for prefix, partition in _PARTITIONS if region.startswith(prefix)), "aws")


def alarm_arn(*, region: str, account: str, name: str) -> str:
    """The ARN CloudWatch gives an alarm: `arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>`."""
    return f"arn:{partition_of(region)}:cloudwatch:{region}:{account}:alarm:{name}"
