"""The duty of information, composed per role. Pure: no I/O.

- partner: the work-permit situation in the host country, the support options, the matched coach
  and job leads with why they fit, and how to reach the coach;
- employee: what support the partner receives and what happens next;
- HR: the record that both were informed, and when; the partner's profile only as far as the
  partner consented to share it.
"""

from dataclasses import dataclass
from datetime import datetime

from shared.contracts import (
    Assignment,
    Channel,
    MatchProposedPayload,
    Stakeholder,
    WorkPermitStatus,
)

from .permits import PERMIT_FACTS

SUPPORT_OPTIONS = (
    "career coaching on the local job market and interview culture",
    "a CV and LinkedIn profile adapted to the local market",
    "networking through curated contacts and events",
    "guidance on job search, further education, entrepreneurship and volunteering",
    "integration programmes and language learning",
)


@dataclass(frozen=True)
class Message:
    stakeholder: Stakeholder
    channel: Channel
    content_kind: str
    language: str
    recipient: str
    subject: str
    body: str


def permit_situation(assignment: Assignment) -> str:
    host = assignment.host_location
    status = assignment.partner.profile.work_permit
    facts = PERMIT_FACTS.get(host.country)
    if facts is None:
        return (
            f"We do not yet hold reviewed work-permit information for {host.country}. Your HR contact"
            f" {assignment.hr_contact.full_name} will follow up with you personally."
        )
    lines = [facts.summary, f"Official source: {facts.source}"]
    if status is WorkPermitStatus.UNKNOWN or status is WorkPermitStatus.APPLICATION_PENDING:
        lines.append("Your own permit is not settled yet; HR will confirm your right to work before you start.")
    elif not status.may_work:
        lines.append(
            "Your current permit does not allow work; the leads below that need no work permit are"
            " open to you, and your coach can explain how to apply for one."
        )
    return "\n".join(lines)


def _coach_section(match: MatchProposedPayload) -> str:
    coach = match.coach
    if coach is None:
        reasons = "; ".join(u.message for u in match.unmatched if u.subject == "coach")
        return f"We could not match a coach yet ({reasons}). HR has been told and will follow up."
    why = "\n".join(f"  - {c.explanation}" for c in coach.criteria)
    return f"Your career coach: {coach.display_name} ({coach.contact_email}).\nWhy this coach:\n{why}"


def _leads_section(match: MatchProposedPayload) -> str:
    if not match.job_leads:
        return "We have no open leads that fit your goals and permit yet; your coach will look with you."
    lines = ["Leads selected for you:"]
    for lead in match.job_leads:
        place = f"{lead.location.city}{', remote possible' if lead.remote else ''}"
        lines.append(f"  - {lead.title}, {lead.organisation} ({place}): {lead.criteria[0].explanation}")
    return "\n".join(lines)


def for_partner(assignment: Assignment, match: MatchProposedPayload) -> Message:
    partner, host = assignment.partner, assignment.host_location
    body = "\n\n".join(
        [
            f"Dear {partner.full_name},",
            f"Welcome to your move to {host.city}. Your career matters to this assignment, and"
            " support is arranged for you.",
            "Your right to work:\n" + permit_situation(assignment),
            "Support available to you:\n" + "\n".join(f"  - {option}" for option in SUPPORT_OPTIONS),
            _coach_section(match),
            _leads_section(match),
        ]
    )
    return Message(
        stakeholder=Stakeholder.PARTNER,
        channel=partner.channels[0],
        content_kind="partner.support_and_match",
        language="en",
        recipient=str(partner.email),
        subject=f"Your career support in {host.city}",
        body=body,
    )


def for_employee(assignment: Assignment, match: MatchProposedPayload) -> Message:
    coach = "a career coach" if match.coach else "career support (a coach is being arranged)"
    body = "\n\n".join(
        [
            f"Dear {assignment.employee.full_name},",
            f"For your move to {assignment.host_location.city}, your partner receives {coach},"
            f" {len(match.job_leads)} selected leads, and information on their right to work.",
            "Your partner has been contacted directly. Nothing is needed from you; HR keeps a record"
            " that you were both informed.",
        ]
    )
    return Message(
        stakeholder=Stakeholder.EMPLOYEE,
        channel=Channel.EMAIL,
        content_kind="employee.partner_support",
        language="en",
        recipient=str(assignment.employee.email),
        subject="Support arranged for your partner",
        body=body,
    )


def for_hr(assignment: Assignment, match: MatchProposedPayload, informed: list[Message], at: datetime) -> Message:
    lines = [f"  - {m.stakeholder.value}: {m.content_kind} by {m.channel.value} at {at.isoformat()}" for m in informed]
    profile = assignment.partner.profile
    shared = (
        f"Partner profile (shared with consent): {profile.occupation}, {profile.sector.value},"
        f" goals {', '.join(goal.value for goal in profile.goals)}."
        if assignment.partner.consent.share_profile_with_hr
        else "The partner has not consented to share their profile with HR."
    )
    follow_up = [f"  - action needed: {u.message}" for u in match.unmatched]
    body = "\n".join(
        [f"Assignment {assignment.assignment_id}: duty of information fulfilled.", *lines, shared, *follow_up]
    )
    return Message(
        stakeholder=Stakeholder.HR,
        channel=Channel.EMAIL,
        content_kind="hr.duty_of_information_record",
        language="en",
        recipient=str(assignment.hr_contact.email),
        subject=f"Partner and employee informed for assignment {assignment.assignment_id}",
        body=body,
    )


def duty_of_information(assignment: Assignment, match: MatchProposedPayload, at: datetime) -> list[Message]:
    """Everything owed once the assignment and its match are both known; HR's record comes last
    because it lists the other two."""
    informed = [for_partner(assignment, match), for_employee(assignment, match)]
    return [*informed, for_hr(assignment, match, informed, at)]
