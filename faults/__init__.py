"""Fault injection on the real local stack: `uv run --frozen python -m faults.run`."""
