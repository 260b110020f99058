"""The duty-of-information report HR reads, from "when was each stakeholder first informed" rows:
share of assignments where partner, employee and HR were all informed, and the time from the
assignment's acceptance to each stakeholder being informed (p50 / p95). notifications computes it
from its deliveries (`python -m services.notifications report`), the HTTP gateway from the
duty-of-information stream (`GET /v1/reports/duty-of-information`). Pure: no I/O."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

STAKEHOLDERS = ("partner", "employee", "hr")


@dataclass(frozen=True)
class FirmReport:
    firm_id: str
    assignments: int
    all_informed: int
    seconds: dict[str, list[float]]

    def lines(self) -> list[str]:
        share = self.all_informed / self.assignments if self.assignments else 0.0
        out = [
            f"Duty-of-information report for {self.firm_id}",
            f"assignments: {self.assignments}; all three informed: {self.all_informed} ({share:.1%})",
            f"{'stakeholder':<10} {'informed':>8} {'p50 (s)':>9} {'p95 (s)':>9}",
        ]
        for stakeholder in STAKEHOLDERS:
            values = sorted(self.seconds.get(stakeholder, []))
            out.append(
                f"{stakeholder:<10} {len(values):>8} {_fmt(percentile(values, 50))} {_fmt(percentile(values, 95))}"
            )
        return out


def percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no data."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _fmt(value: float | None) -> str:
    return f"{'-':>9}" if value is None else f"{value:>9.1f}"


def summarise(firm_id: str, rows: Sequence[Mapping[str, Any]]) -> FirmReport:
    informed: dict[object, dict[str, datetime]] = {}
    accepted: dict[object, datetime] = {}
    for row in rows:
        accepted[row["assignment_id"]] = row["accepted_at"]
        if row["stakeholder"] is not None and row["informed_at"] is not None:
            informed.setdefault(row["assignment_id"], {})[row["stakeholder"]] = row["informed_at"]
    seconds: dict[str, list[float]] = {s: [] for s in STAKEHOLDERS}
    for assignment_id, by_stakeholder in informed.items():
        for stakeholder, at in by_stakeholder.items():
            seconds.setdefault(stakeholder, []).append((at - accepted[assignment_id]).total_seconds())
    complete = sum(1 for a in accepted if set(STAKEHOLDERS) <= set(informed.get(a, {})))
    return FirmReport(firm_id, len(accepted), complete, seconds)
