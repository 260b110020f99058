from datetime import UTC, datetime, timedelta

from shared.reporting import percentile, summarise

T0 = datetime(2026, 11, 22, 12, tzinfo=UTC)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 95) == 95.0
    assert percentile([], 50) is None


def test_share_all_informed_and_times_per_stakeholder() -> None:
    rows = [
        {"assignment_id": "a", "accepted_at": T0, "stakeholder": s, "informed_at": T0 + timedelta(seconds=n)}
        for n, s in enumerate(("partner", "employee", "hr"), start=1)
    ] + [
        {"assignment_id": "b", "accepted_at": T0, "stakeholder": "partner", "informed_at": T0 + timedelta(seconds=9)},
        {"assignment_id": "c", "accepted_at": T0, "stakeholder": None, "informed_at": None},
    ]
    report = summarise("firm", rows)
    assert (report.assignments, report.all_informed) == (3, 1)
    assert sorted(report.seconds["partner"]) == [1.0, 9.0] and report.seconds["hr"] == [3.0]
    assert "all three informed: 1 (33.3%)" in "\n".join(report.lines())
