"""care's pure rules: working days in the host country's calendar, the check-in schedule, what a
deadline escalates with, signed links, scorecard figures, per-firm policies."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.care import domain
from services.care.settings import CareSettings
from shared.contracts import WorkPermitStatus
from shared.contracts.care import EscalationRule
from shared.topics import firm_pattern, firm_topic, tenant_of

SECRET = "a-secret-of-some-length"


def test_working_days_skip_weekends_and_the_host_countrys_public_holidays() -> None:
    wednesday = datetime(2026, 12, 23, 10, 0, tzinfo=UTC)
    # Norway: 25 and 26 December are public holidays, 26-27 a weekend.
    assert domain.add_working_days(wednesday, 3, "NO") == datetime(2026, 12, 29, 10, 0, tzinfo=UTC)
    assert domain.add_working_days(wednesday, 5, "NO") == datetime(2026, 12, 31, 10, 0, tzinfo=UTC)
    # 17 May 2027 (a Monday) is Norway's Constitution Day, a working day in the US.
    friday = datetime(2027, 5, 14, 10, 0, tzinfo=UTC)
    assert domain.add_working_days(friday, 1, "NO") == datetime(2027, 5, 18, 10, 0, tzinfo=UTC)
    assert domain.add_working_days(friday, 1, "US") == datetime(2027, 5, 17, 10, 0, tzinfo=UTC)
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    assert domain.add_working_days(friday, 1, "DE") == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


def test_a_country_without_public_holidays_counts_weekends_only() -> None:
    # Bouvet Island: the package knows it, with no public holidays; Christmas is a working day.
    assert domain.add_working_days(datetime(2026, 12, 24, 9, tzinfo=UTC), 1, "BV").date() == date(2026, 12, 25)


def test_holidays_between_names_what_was_skipped() -> None:
    skipped = domain.holidays_between(date(2026, 12, 23), date(2026, 12, 31), "NO")
    assert [day for day, _ in skipped] == [date(2026, 12, 25), date(2026, 12, 26)]


def test_check_ins_are_scheduled_from_the_start_date_and_past_ones_are_not_sent_late() -> None:
    policy = domain.Policy()
    start = date(2027, 3, 1)
    early = domain.check_in_deadlines(start, policy, datetime(2027, 1, 1, tzinfo=UTC))
    assert [(d.kind, d.due_at.date()) for d in early] == [
        ("check_in.pre_departure", date(2027, 2, 22)),
        ("check_in.two_weeks", date(2027, 3, 15)),
        ("check_in.three_months", date(2027, 5, 31)),
        ("check_in.six_months", date(2027, 8, 30)),
    ]
    # Accepted three days before departure: the pre-departure check-in goes out at once.
    late = datetime(2027, 2, 26, 12, tzinfo=UTC)
    assert domain.check_in_deadlines(start, policy, late)[0] == domain.Deadline("check_in.pre_departure", late, None)
    # Accepted after the start: no pre-departure check-in at all.
    after = domain.check_in_deadlines(start, policy, datetime(2027, 3, 5, tzinfo=UTC))
    assert [d.kind for d in after] == ["check_in.two_weeks", "check_in.three_months", "check_in.six_months"]


@pytest.mark.parametrize(
    ("permit", "expected"),
    [
        (WorkPermitStatus.UNKNOWN, True),
        (WorkPermitStatus.APPLICATION_PENDING, True),
        (WorkPermitStatus.HAS_WORK_RIGHTS, False),
    ],
)
def test_an_unclear_permit_sets_a_deadline_for_hrs_task(permit: WorkPermitStatus, expected: bool) -> None:
    accepted = datetime(2026, 12, 1, 9, tzinfo=UTC)
    deadlines = domain.on_assignment(accepted, date(2027, 2, 1), permit, "NO", domain.Policy())
    kinds = {d.kind: d for d in deadlines}
    assert kinds["not_matched"].due_at == domain.add_working_days(accepted, 5, "NO")
    assert ("permit_unresolved" in kinds) is expected


def test_a_proposed_coach_starts_the_acceptance_and_first_session_clocks() -> None:
    proposed = datetime(2026, 12, 23, 10, tzinfo=UTC)
    deadlines = domain.on_coach_proposed(proposed, "NO", domain.Policy())
    assert [(d.kind, d.due_at.date(), d.level) for d in deadlines] == [
        ("no_acceptance", date(2026, 12, 29), 1),
        ("no_first_session.1", date(2026, 12, 29), 1),
        ("no_first_session.2", date(2026, 12, 31), 2),
    ]
    assert domain.escalation_rule("no_first_session.2") == (EscalationRule.NO_FIRST_SESSION, 2)
    assert domain.escalation_rule(f"delivery_failed.{uuid.uuid4()}") == (EscalationRule.DELIVERY_FAILED, 1)
    assert domain.escalation_rule("check_in.two_weeks") is None


def test_a_pulse_of_6_or_less_is_low() -> None:
    policy = domain.Policy()
    assert [score for score in range(1, 11) if domain.is_low(score, policy)] == [1, 2, 3, 4, 5, 6]


def test_every_rule_tells_the_case_owner_what_happened_and_what_to_do() -> None:
    for rule in EscalationRule:
        advice = domain.advice(rule, level=2, days=5, score=4)
        assert advice.what_happened and advice.what_to_do
    assert "4 out of 10" in domain.advice(EscalationRule.LOW_PULSE, score=4).what_happened
    assert "second" in domain.advice(EscalationRule.NO_FIRST_SESSION, level=2, days=5).what_happened


def test_a_signed_link_names_its_check_in_and_refuses_tampering_and_expiry() -> None:
    check_in = uuid.uuid4()
    now = datetime(2026, 12, 1, tzinfo=UTC)
    token = domain.sign_link(check_in, now + timedelta(days=21), SECRET)
    assert domain.read_link(token, SECRET, now) == check_in
    with pytest.raises(domain.BadLink, match="bad_signature"):
        domain.read_link(token, "another-secret-entirely", now)
    other = domain.sign_link(uuid.uuid4(), now + timedelta(days=21), SECRET)
    with pytest.raises(domain.BadLink, match="bad_signature"):
        domain.read_link(token.split(".")[0] + "." + other.split(".")[1], SECRET, now)
    with pytest.raises(domain.BadLink, match="expired"):
        domain.read_link(token, SECRET, now + timedelta(days=22))
    with pytest.raises(domain.BadLink, match="malformed"):
        domain.read_link("no-dot-here", SECRET, now)


def test_figures_count_what_the_engagements_hold() -> None:
    proposed = datetime(2026, 12, 1, tzinfo=UTC)
    figures = domain.figures(
        [
            domain.Engagement("c1", proposed, True, 2, proposed + timedelta(days=2), (5, 8), ("found_work",), 1),
            domain.Engagement("c1", proposed, True, 1, proposed + timedelta(days=4), (9,), (), 0),
            domain.Engagement("c2", proposed, False, 0, None, (), (), 2),
        ]
    )
    assert figures.assignments == 3 and figures.accepted == 2 and figures.engaged == 2 and figures.sessions == 3
    assert figures.median_days_to_first_session == 3.0
    assert figures.pulses == 3 and figures.mean_pulse == round((5 + 8 + 9) / 3, 2)
    assert figures.outcomes == {"found_work": 1} and figures.escalations == 3
    empty = domain.figures([])
    assert (empty.mean_pulse, empty.median_days_to_first_session) == (None, None)


def test_a_firm_policy_overrides_the_defaults_it_names() -> None:
    settings = CareSettings(
        care_policies={
            "strict-firm": {"not_matched_working_days": 2, "check_ins": {"arrival": 1}, "owner_email": "case@x.example"}
        }
    )
    strict = settings.policy("strict-firm")
    assert strict.not_matched_working_days == 2 and strict.check_ins == (("arrival", 1),)
    assert strict.owner_email == "case@x.example" and strict.first_session_working_days == (3, 5)
    assert settings.policy("any-other-firm") == domain.Policy()


def test_tenant_topics_follow_the_convention() -> None:
    topic = firm_topic("nordic-relocation", "care.pulse-given")
    assert topic == "trailblazer.firm.nordic-relocation.care.pulse-given.v1"
    tenant = tenant_of(topic)
    assert tenant is not None and (tenant.kind, tenant.id, tenant.event) == (
        "firm",
        "nordic-relocation",
        "care.pulse-given",
    )
    import re

    assert re.match(firm_pattern("care.pulse-given"), topic)
    assert not re.match(firm_pattern("care.pulse-given"), "trailblazer.firm.a.b.care.pulse-given.v1")
    assert tenant_of("trailblazer.assignment.created.v1") is None
