"""Pure parts of a proposal's life cycle: when an acceptance is recorded or refused (and with
which code), the acceptance contract, and the lead expiry worker surviving failures."""

import asyncio
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.matching import domain
from services.matching.lifecycle import expiry, proposals
from services.matching.lifecycle.updates import update, with_lead
from services.matching.repository import AssignmentState, OpenPartner
from services.matching.settings import MatchingSettings
from shared.contracts import (
    MatchAccepted,
    MatchAcceptedPayload,
    MatchProposedPayload,
    Unmatched,
    UpdateReason,
    WorkPermitStatus,
)
from shared.contracts.decoding import InvalidEvent, decode

from .test_matching_domain import NOW, STAVANGER, at, lead, partner

FIRM = "nordic-relocation"
COACH = "coach-0001"
OPEN = AssignmentState(owner_firm=FIRM, closed=False, proposed=True, reserved_coach=COACH, accepted=False)


def codes(state: AssignmentState, *, firm_id: str = FIRM, coach_id: str = COACH) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in proposals.acceptance_errors(state, firm_id=firm_id, coach_id=coach_id)]


def with_(**changes: Any) -> AssignmentState:
    return replace(OPEN, **changes)


def test_the_proposed_coach_is_accepted_and_accepting_again_is_no_error() -> None:
    assert codes(OPEN) == []
    assert codes(with_(accepted=True)) == []


def test_each_reason_an_acceptance_is_refused_has_its_code() -> None:
    assert codes(OPEN, coach_id="coach-0002") == [("payload.coach_id", "coach_not_proposed")]
    assert codes(with_(reserved_coach=None)) == [("payload.coach_id", "no_coach_proposed")]
    assert codes(with_(owner_firm=None, closed=False, proposed=False, reserved_coach=None)) == [
        ("payload.assignment_id", "unknown_assignment")
    ]
    assert codes(with_(closed=True, reserved_coach=None)) == [("payload.assignment_id", "assignment_closed")]
    # no-consent proposals have no open partner, hence no owner: no coach to accept
    assert codes(with_(owner_firm=None, reserved_coach=None)) == [("payload.coach_id", "no_coach_proposed")]


def test_another_firms_assignment_is_unknown_whatever_its_state() -> None:
    for state in (OPEN, with_(closed=True), with_(reserved_coach=None), with_(accepted=True)):
        assert codes(state, firm_id="other-firm") == [("payload.assignment_id", "unknown_assignment")]


@given(
    owner=st.sampled_from([FIRM, "other-firm", None]),
    closed=st.booleans(),
    proposed=st.booleans(),
    reserved=st.sampled_from([COACH, "coach-0002", None]),
    accepted=st.booleans(),
)
def test_accepted_exactly_when_the_firms_open_proposal_reserves_that_coach(
    owner: str | None, closed: bool, proposed: bool, reserved: str | None, accepted: bool
) -> None:
    state = AssignmentState(
        owner_firm=owner, closed=closed, proposed=proposed, reserved_coach=reserved, accepted=accepted
    )
    errors = proposals.acceptance_errors(state, firm_id=FIRM, coach_id=COACH)
    assert (not errors) == (owner == FIRM and not closed and reserved == COACH)
    assert len(errors) <= 1


def acceptance(assignment_id: uuid.UUID) -> MatchAccepted:
    payload = MatchAcceptedPayload(assignment_id=assignment_id, coach_id=COACH, accepted_at=datetime.now(UTC))
    return MatchAccepted.create(firm_id=FIRM, correlation_id="ref-1", payload=payload)


def test_the_record_key_must_be_the_assignment() -> None:
    event = acceptance(uuid.uuid4())
    assert proposals.key_mismatch(str(event.payload.assignment_id), event) == []
    assert [e.code for e in proposals.key_mismatch("something-else", event)] == ["key_mismatch"]
    assert [e.code for e in proposals.key_mismatch(None, event)] == ["key_mismatch"]


def test_an_acceptance_decodes_from_the_wire_and_bad_ones_say_which_field() -> None:
    event = acceptance(uuid.uuid4())
    assert decode(event.model_dump_json().encode(), MatchAccepted) == event
    wire = json.loads(event.model_dump_json())
    wire["payload"]["coach_id"] = "not an id!"
    wire["payload"]["accepted_at"] = "2026-11-22T10:00:00"
    wire["payload"]["extra"] = 1
    with pytest.raises(InvalidEvent) as refused:
        decode(json.dumps(wire).encode(), MatchAccepted)
    assert {(e.field, e.code) for e in refused.value.errors} == {
        ("payload.coach_id", "string_pattern_mismatch"),
        ("payload.accepted_at", "timezone_aware"),
        ("payload.extra", "unknown_field"),
    }


def test_the_sweep_interval_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MatchingSettings().lead_expiry_sweep_s == 60
    monkeypatch.setenv("TRAILBLAZER_LEAD_EXPIRY_SWEEP_S", "0.5")
    assert MatchingSettings().lead_expiry_sweep_s == 0.5


async def test_the_expiry_worker_outlives_database_outages_and_bugs() -> None:
    outcomes: list[BaseException | int] = [
        asyncpg.CannotConnectNowError("starting up"),
        ConnectionRefusedError(),
        RuntimeError("a bug"),
        3,
        0,
    ]
    calls = 0
    done = asyncio.Event()

    async def sweep() -> int:
        nonlocal calls
        calls += 1
        outcome = outcomes.pop(0) if outcomes else 0
        if not outcomes:
            done.set()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    # A retry budget shorter than the backoff: each outage reaches the worker's own handler.
    worker = asyncio.create_task(expiry.run(sweep, 0.01, retry_budget_s=0.0))
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
        assert not worker.done(), "the worker still runs"
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
    assert calls == 5


# ---- a new lead reaches every open partner it fits, as a set ----------------------------------


def test_a_new_lead_joins_a_proposal_only_where_it_fits_and_ranks() -> None:
    none_yet = Unmatched(subject="job_leads", reason_code="no_leads_in_country", message="no lead is open in NO")
    before = MatchProposedPayload(
        assignment_id=uuid.uuid4(), coach=None, job_leads=[], unmatched=[none_yet], proposed_at=NOW
    )
    engineer = OpenPartner(before.assignment_id, FIRM, "c-1", partner(), STAVANGER, NOW.date())
    settings = MatchingSettings(job_leads_per_partner=1)

    after = with_lead(before, lead("lead-1"), engineer, at(STAVANGER), settings, NOW)
    assert after is not None and [p.job_lead_id for p in after.job_leads] == ["lead-1"]
    assert after.unmatched == [], "the reason there were none is gone"
    told = update(before, after, UpdateReason.NEW_JOB_LEADS)
    assert told is not None and told.added_job_lead_ids == ["lead-1"] and told.removed_job_lead_ids == []
    assert update(after, after, UpdateReason.NEW_JOB_LEADS) is None, "nothing changed, nothing to tell"

    # A lead the partner may not take (no work rights), or one ranking below the one held, changes nothing.
    no_rights = replace(engineer, profile=partner(work_permit=WorkPermitStatus.DEPENDENT_PERMIT_WITHOUT_WORK_RIGHTS))
    assert with_lead(before, lead("lead-2"), no_rights, at(STAVANGER), settings, NOW) is None
    weaker = lead("lead-3", skills=["analyse geological data"], location=STAVANGER.model_copy(update={"city": "Oslo"}))
    assert domain.lead_is_proposable(weaker, engineer.profile, at(STAVANGER)), "it fits, but ranks lower"
    assert with_lead(after, weaker, engineer, at(STAVANGER), settings, NOW) is None
