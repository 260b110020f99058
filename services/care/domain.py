"""The duty of care's rules. Pure: no I/O.

- prevention: check-ins with the partner on a schedule relative to the assignment's start date;
- intervention: deadlines that, once passed, escalate to the firm's case owner with what happened
  and what to do; working days follow the host country's public holidays (`holidays`);
- control: a provider's figures from the events its coaches produced.
"""

import hashlib
import hmac
import statistics
import uuid
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

import holidays

from shared.contracts import WorkPermitStatus
from shared.contracts.care import EscalationRule, Figures

# Days relative to the start date: a week before departure, two weeks, three and six months after.
DEFAULT_CHECK_INS: tuple[tuple[str, int], ...] = (
    ("pre_departure", -7),
    ("two_weeks", 14),
    ("three_months", 91),
    ("six_months", 182),
)
# Check-ins go out at 08:00 UTC on their day: morning in Europe, before the working day in Asia.
CHECK_IN_TIME = time(8, 0, tzinfo=UTC)
UNCLEAR_PERMITS = frozenset({WorkPermitStatus.UNKNOWN, WorkPermitStatus.APPLICATION_PENDING})


@dataclass(frozen=True)
class Policy:
    check_ins: tuple[tuple[str, int], ...] = DEFAULT_CHECK_INS
    not_matched_working_days: int = 5
    acceptance_working_days: int = 3
    first_session_working_days: tuple[int, int] = (3, 5)
    permit_working_days: int = 10
    delivery_failed_working_days: int = 2
    low_pulse_at_most: int = 6
    owner_name: str | None = None
    owner_email: str | None = None


# --- Working days ------------------------------------------------------------------------------


@cache
def _calendar(country: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country)
    except NotImplementedError:
        # A country the package does not know: weekends only, said so in the docs.
        return holidays.HolidayBase()


def is_working_day(day: date, country: str) -> bool:
    calendar = _calendar(country)
    return day.weekday() not in calendar.weekend and day not in calendar


def add_working_days(moment: datetime, days: int, country: str) -> datetime:
    """The same time of day, `days` working days later in the host country: weekends and public
    holidays do not count. From a Friday afternoon, 3 working days is Wednesday afternoon."""
    day = moment.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day, country):
            counted += 1
    return datetime.combine(day, moment.timetz())


def holidays_between(start: date, end: date, country: str) -> list[tuple[date, str]]:
    """The public holidays skipped between two days (for the escalation's explanation)."""
    calendar = _calendar(country)
    days = (start + timedelta(days=n) for n in range(1, (end - start).days + 1))
    return [(day, str(calendar.get(day))) for day in days if day in calendar]


# --- Deadlines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    kind: str  # unique per assignment: check_in.<name>, not_matched, no_first_session.1, ...
    due_at: datetime
    rule: EscalationRule | None  # None: a check-in, which sends rather than escalates
    level: int = 1


def check_in_deadlines(start_date: date, policy: Policy, now: datetime) -> list[Deadline]:
    """The check-ins still ahead. One whose day has passed is not sent late, except the
    pre-departure check-in of an assignment accepted after it: that goes out at once."""
    result = []
    for name, offset in policy.check_ins:
        due = datetime.combine(start_date + timedelta(days=offset), CHECK_IN_TIME)
        if due < now:
            if offset >= 0 or start_date < now.date():
                continue
            due = now
        result.append(Deadline(f"check_in.{name}", due, None))
    return result


def on_assignment(
    now: datetime, start_date: date, work_permit: WorkPermitStatus, country: str, policy: Policy
) -> list[Deadline]:
    deadlines = check_in_deadlines(start_date, policy, now)
    deadlines.append(
        Deadline(
            "not_matched",
            add_working_days(now, policy.not_matched_working_days, country),
            EscalationRule.NOT_MATCHED,
        )
    )
    if work_permit in UNCLEAR_PERMITS:
        deadlines.append(
            Deadline(
                "permit_unresolved",
                add_working_days(now, policy.permit_working_days, country),
                EscalationRule.PERMIT_UNRESOLVED,
            )
        )
    return deadlines


def on_coach_proposed(proposed_at: datetime, country: str, policy: Policy) -> list[Deadline]:
    """From the day a coach is proposed: acceptance within N working days, a first session
    within 3 (level 1) and 5 (level 2) working days."""
    first, second = policy.first_session_working_days
    return [
        Deadline(
            "no_acceptance",
            add_working_days(proposed_at, policy.acceptance_working_days, country),
            EscalationRule.NO_ACCEPTANCE,
        ),
        Deadline("no_first_session.1", add_working_days(proposed_at, first, country), EscalationRule.NO_FIRST_SESSION),
        Deadline(
            "no_first_session.2", add_working_days(proposed_at, second, country), EscalationRule.NO_FIRST_SESSION, 2
        ),
    ]


def on_delivery_failed(delivery_id: uuid.UUID, failed_at: datetime, country: str, policy: Policy) -> Deadline:
    return Deadline(
        f"delivery_failed.{delivery_id}",
        add_working_days(failed_at, policy.delivery_failed_working_days, country),
        EscalationRule.DELIVERY_FAILED,
    )


# What each event meets: the deadlines it makes pointless.
MET_BY_COACH = ("not_matched",)
MET_BY_ACCEPTANCE = ("no_acceptance",)
MET_BY_SESSION = ("no_acceptance", "no_first_session.1", "no_first_session.2")
MET_BY_PERMIT = ("permit_unresolved",)


def is_low(score: int, policy: Policy) -> bool:
    return score <= policy.low_pulse_at_most


# --- Escalation texts --------------------------------------------------------------------------


@dataclass(frozen=True)
class Advice:
    what_happened: str
    what_to_do: str


def advice(rule: EscalationRule, *, level: int = 1, days: int | None = None, score: int | None = None) -> Advice:
    """What the case owner reads: the fact, then the next step. No personal data."""
    if rule is EscalationRule.NOT_MATCHED:
        return Advice(
            f"No coach has been proposed to the partner {days} working days after the assignment was accepted.",
            "Check the match's unmatched reasons in the duty-of-information record; widen the search (remote "
            "coaches, another provider) or call the partner to agree on an alternative.",
        )
    if rule is EscalationRule.NO_ACCEPTANCE:
        return Advice(
            f"The partner has not accepted the proposed coach {days} working days after the proposal.",
            "Call the partner: ask whether the coach fits and whether the message arrived; publish "
            "match.accepted once they agree, or ask for another coach.",
        )
    if rule is EscalationRule.NO_FIRST_SESSION:
        return Advice(
            f"No coaching session has been reported {days} working days after the coach was proposed"
            + (" (second and last reminder)." if level == 2 else "."),
            "Ask the provider whether the first session is booked and publish care.session-held once it took place"
            + ("; if the partner does not engage, call them today." if level == 2 else "."),
        )
    if rule is EscalationRule.LOW_PULSE:
        return Advice(
            f"The partner rated their situation {score} out of 10.",
            "Call the partner within two working days; the comment, if any, is in the care report. Close the "
            "escalation with what was agreed.",
        )
    if rule is EscalationRule.PERMIT_UNRESOLVED:
        return Advice(
            f"The partner's work-permit situation is still unclear {days} working days after the assignment "
            "was accepted.",
            "Clarify the permit with the immigration adviser and publish care.permit-clarified.",
        )
    return Advice(
        f"A duty-of-information message could not be delivered and is unresolved after {days} working days.",
        "Correct the address or channel and re-queue the parked delivery (deliveries requeue), or inform "
        "the stakeholder another way and close the escalation.",
    )


def rule_days(deadline_kind: str, policy: Policy) -> int:
    if deadline_kind == "not_matched":
        return policy.not_matched_working_days
    if deadline_kind == "no_acceptance":
        return policy.acceptance_working_days
    if deadline_kind == "no_first_session.1":
        return policy.first_session_working_days[0]
    if deadline_kind == "no_first_session.2":
        return policy.first_session_working_days[1]
    if deadline_kind == "permit_unresolved":
        return policy.permit_working_days
    return policy.delivery_failed_working_days


def escalation_rule(deadline_kind: str) -> tuple[EscalationRule, int] | None:
    """The rule and level a deadline escalates with; None for a check-in."""
    if deadline_kind.startswith("check_in."):
        return None
    if deadline_kind.startswith("delivery_failed."):
        return EscalationRule.DELIVERY_FAILED, 1
    if deadline_kind.startswith("no_first_session."):
        return EscalationRule.NO_FIRST_SESSION, int(deadline_kind.rsplit(".", 1)[1])
    return EscalationRule(deadline_kind), 1


# --- Signed one-time links ---------------------------------------------------------------------


def sign_link(check_in_id: uuid.UUID, expires: datetime, secret: str) -> str:
    """A token naming the check-in and its expiry, with an HMAC-SHA256 over both; one-time use
    is the database's part (a check-in answers once)."""
    body = f"{check_in_id}.{int(expires.timestamp())}"
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(body.encode()).decode().rstrip("=") + "." + urlsafe_b64encode(mac).decode().rstrip("=")


class BadLink(ValueError):
    pass


def read_link(token: str, secret: str, now: datetime) -> uuid.UUID:
    try:
        encoded_body, encoded_mac = token.split(".")
        body = urlsafe_b64decode(encoded_body + "=" * (-len(encoded_body) % 4))
        mac = urlsafe_b64decode(encoded_mac + "=" * (-len(encoded_mac) % 4))
    except ValueError:
        raise BadLink("malformed") from None
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise BadLink("bad_signature")
    check_in, expires = body.decode().split(".")
    if datetime.fromtimestamp(int(expires), UTC) < now:
        raise BadLink("expired")
    return uuid.UUID(check_in)


# --- Control: figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class Engagement:
    """One assignment as one coach's (and so one provider's) partner."""

    coach_id: str
    proposed_at: datetime
    accepted: bool
    sessions: int
    first_session_at: datetime | None
    pulses: Sequence[int] = ()
    outcomes: Sequence[str] = ()
    escalations: int = 0


def figures(engagements: Iterable[Engagement]) -> Figures:
    items = list(engagements)
    days = [
        (e.first_session_at - e.proposed_at).total_seconds() / 86400 for e in items if e.first_session_at is not None
    ]
    pulses = [p for e in items for p in e.pulses]
    outcomes: dict[str, int] = {}
    for e in items:
        for outcome in e.outcomes:
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return Figures(
        assignments=len(items),
        accepted=sum(e.accepted for e in items),
        engaged=sum(e.sessions > 0 for e in items),
        sessions=sum(e.sessions for e in items),
        median_days_to_first_session=round(statistics.median(days), 2) if days else None,
        pulses=len(pulses),
        mean_pulse=round(statistics.fmean(pulses), 2) if pulses else None,
        outcomes=dict(sorted(outcomes.items())),
        escalations=sum(e.escalations for e in items),
    )
