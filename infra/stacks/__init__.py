"""Thin stacks composing the constructs."""
