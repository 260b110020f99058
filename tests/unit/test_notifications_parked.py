"""The parked-deliveries command's pure parts: what a requeue may do, and what it prints."""

import uuid
from datetime import UTC, datetime

import pytest

from services.notifications.parked import Action, Outcome, Parked, Verdict, decide, list_lines, main, redact, summary
from shared.contracts import DeliveryStatus, Stakeholder

PARTNER, HR = Stakeholder.PARTNER, Stakeholder.HR


def test_only_a_parked_delivery_is_requeued() -> None:
    assert decide(DeliveryStatus.FAILED, HR, cancelled=False, withdrawn=False).action is Action.REQUEUED
    for status in (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING, DeliveryStatus.SENDING):
        verdict = decide(status, HR, cancelled=False, withdrawn=False)
        assert verdict == Verdict(Action.UNCHANGED, f"not parked: already {status.value}")
    for status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED):
        assert decide(status, PARTNER, cancelled=False, withdrawn=False).action is Action.UNCHANGED


def test_cancelled_and_suppressed_deliveries_are_refused_with_the_reason() -> None:
    cancelled = decide(DeliveryStatus.CANCELLED, HR, cancelled=True, withdrawn=False)
    assert cancelled.action is Action.REFUSED and "assignment was cancelled" in cancelled.reason
    suppressed = decide(DeliveryStatus.SUPPRESSED, PARTNER, cancelled=False, withdrawn=True)
    assert suppressed.action is Action.REFUSED and "withdrew consent" in suppressed.reason


def test_a_parked_delivery_is_refused_once_its_assignment_was_stopped() -> None:
    """Stops change only pending deliveries, so a parked one outlives them; a requeue must not."""
    assert decide(DeliveryStatus.FAILED, HR, cancelled=True, withdrawn=False).action is Action.REFUSED
    refused = decide(DeliveryStatus.FAILED, PARTNER, cancelled=False, withdrawn=True)
    assert refused.action is Action.REFUSED and "withdrew consent" in refused.reason
    # The withdrawal is the partner's: what the employee and HR are owed still goes out.
    for stakeholder in (Stakeholder.EMPLOYEE, HR):
        assert decide(DeliveryStatus.FAILED, stakeholder, cancelled=False, withdrawn=True).action is Action.REQUEUED


def test_errors_are_printed_without_addresses_and_short() -> None:
    assert redact(None) == "-"
    assert redact("webhook_http_410") == "webhook_http_410"
    assert redact("smtp 550 <anna.weber@family.example> unknown\nuser") == "smtp 550 <<address>> unknown user"
    assert "@" not in redact("refused anna@x.example, jonas+1@y.example")
    assert len(redact("x" * 500)) == 60


def test_list_shows_ids_roles_and_codes_but_no_personal_data() -> None:
    row = Parked(
        delivery_id=uuid.UUID(int=1),
        assignment_id=uuid.UUID(int=2),
        firm_id="gone-firm",
        stakeholder="hr",
        channel="webhook",
        content_kind="hr.duty_of_information_record",
        status="failed",
        attempts=6,
        updated_at=datetime(2026, 11, 22, 12, 30, tzinfo=UTC),
        last_error="smtp_recipient_refused mobility@gone-firm.example",
    )
    lines = list_lines([row])
    assert lines[0].split()[:3] == ["delivery", "assignment", "firm"]
    assert str(uuid.UUID(int=1)) in lines[1] and str(uuid.UUID(int=2)) in lines[1]
    assert all(part in lines[1].split() for part in ("gone-firm", "hr", "webhook", "failed", "6"))
    assert "2026-11-22 12:30:00" in lines[1]
    assert "@" not in lines[1] and "smtp_recipient_refused <address>" in lines[1]
    assert lines[-1] == "1 delivery"
    assert list_lines([])[-1] == "0 deliveries"


def test_outcomes_and_summary() -> None:
    outcomes = [
        Outcome(uuid.UUID(int=1), Verdict(Action.REQUEUED, "back in the queue")),
        Outcome(uuid.UUID(int=2), Verdict(Action.REFUSED, "suppressed: consent")),
        Outcome(uuid.UUID(int=3), Verdict(Action.REQUEUED, "back in the queue")),
    ]
    assert outcomes[1].line() == f"{uuid.UUID(int=2)} refused: suppressed: consent"
    assert summary(outcomes) == "2 requeued, 0 unchanged, 1 refused"


@pytest.mark.parametrize(
    "argv",
    [
        ["requeue"],
        ["requeue", "--all-failed"],
        ["requeue", str(uuid.UUID(int=1)), "--firm", "f", "--all-failed"],
        ["requeue", "not-a-uuid"],
        ["list", "--status", "lost"],
    ],
)
async def test_usage_errors_stop_before_the_database(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        await main(["--database-url", "postgresql://nobody@127.0.0.1:1/none", *argv])
    assert stopped.value.code == 2
