"""The CDK app's building blocks: the environment config, the alarm catalogue, constructs and stacks."""
