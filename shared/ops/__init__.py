"""Operator commands: `python -m shared.ops.<command>`."""
