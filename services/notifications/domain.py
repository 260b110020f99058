"""The duty of information, composed per role. Pure: no I/O.

- partner: the work-permit situation in the host country, the support options, the matched coach
  and job leads with why they fit, and how to reach the coach — in the partner's language;
- employee: what support the partner receives and what happens next;
- HR: the record of who was informed, with what and when; the partner's profile only as far as the
  partner consented to share it; and a task wherever we must not guess (unknown host country).
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from shared.contracts import (
    Assignment,
    Channel,
    DeliveryChannel,
    JobLeadProposal,
    MatchProposedPayload,
    Stakeholder,
    WorkPermitStatus,
)

from . import host_countries
from .content import Document, Section, render
from .host_countries import HostCountry, Verification
from .i18n import Texts, texts

PARTNER_CONTENT = "partner.support_and_match"
PARTNER_UPDATE = "partner.match_update"
EMPLOYEE_CONTENT = "employee.partner_support"
HR_RECORD = "hr.duty_of_information_record"
HR_DELIVERY_FAILED = "hr.delivery_failed"
SUPPORT_OPTIONS = ("coaching", "cv", "networking", "job_search", "education", "integration")


@dataclass(frozen=True)
class Message:
    stakeholder: Stakeholder
    channel: Channel
    content_kind: str
    language: str
    recipient: str
    subject: str
    body: str
    html: str
    deliver_by: tuple[DeliveryChannel, ...]


def _message(
    stakeholder: Stakeholder, kind: str, recipient: str, doc: Document, by: tuple[DeliveryChannel, ...]
) -> Message:
    rendered = render(doc)
    return Message(
        stakeholder, Channel.EMAIL, kind, doc.language, recipient, doc.subject, rendered.text, rendered.html, by
    )


def partner_channels(assignment: Assignment) -> tuple[DeliveryChannel, ...]:
    """The partner's own channel preferences, as far as we can deliver them: the firm's portal is
    reached through the firm's webhook; SMS has no gateway yet, so email stands in."""
    wanted = [
        DeliveryChannel.WEBHOOK if c is Channel.FIRM_PORTAL else DeliveryChannel.EMAIL
        for c in assignment.partner.channels
    ]
    return (*dict.fromkeys(wanted), DeliveryChannel.KAFKA)


def confirmed_facts(assignment: Assignment) -> HostCountry | None:
    facts = host_countries.lookup(assignment.host_location.country)
    return facts if facts is not None and facts.confirmed else None


def permit_section(assignment: Assignment, t: Texts) -> Section:
    host = assignment.host_location
    country = t.country(host.country)
    facts = confirmed_facts(assignment)
    heading = t("right_to_work", country=country)
    if facts is None:
        return Section(heading, (t("unknown_country", country=country, hr=assignment.hr_contact.full_name),))
    lines = [
        t(f"may_work_{facts.partner_may_work.value}", country=country),
        t("rule_as_published", summary=facts.summary),
    ]
    if facts.apply_for:
        lines.append(t("apply_for", what=facts.apply_for))
    lines.append(t("processing_time", time=facts.processing_time) if facts.processing_time else t("processing_unknown"))
    lines += [t("source", url=str(facts.source)), t("reviewed", date=t.day(facts.last_reviewed))]
    if facts.verification is Verification.SECONDARY:
        lines.append(t("secondary"))
    status = assignment.partner.profile.work_permit
    if status in (WorkPermitStatus.UNKNOWN, WorkPermitStatus.APPLICATION_PENDING):
        lines.append(t("status_pending"))
    elif not status.may_work:
        lines.append(t("status_no_rights"))
    return Section(heading, tuple(lines))


def _coach_section(match: MatchProposedPayload, t: Texts) -> Section:
    coach = match.coach
    if coach is None:
        reasons = "; ".join(u.message for u in match.unmatched if u.subject == "coach")
        return Section(t("coach_heading"), (t("no_coach", reasons=reasons),))
    return Section(
        t("coach_heading"),
        (t("coach_intro", coach=coach.display_name, score=t.percent(coach.score)), t("coach_why")),
        (*(c.explanation for c in coach.criteria), t("coach_reach", email=coach.contact_email)),
    )


def _lead_line(lead: JobLeadProposal, t: Texts) -> str:
    place = lead.location.city + (f", {t('lead_remote')}" if lead.remote else "")
    why = lead.criteria[0].explanation if lead.criteria else ""
    return f"{lead.title}, {lead.organisation} ({place}): {why}".rstrip(": ")


def _leads_section(match: MatchProposedPayload, t: Texts) -> Section:
    if not match.job_leads:
        return Section(t("leads_heading", count=0), (t("no_leads"),))
    return Section(
        t("leads_heading", count=len(match.job_leads)), (), tuple(_lead_line(lead, t) for lead in match.job_leads)
    )


def for_partner(assignment: Assignment, match: MatchProposedPayload) -> Message:
    partner, host = assignment.partner, assignment.host_location
    t = texts(partner.preferred_language, "partner")
    support = Section(t("support_heading"), (), tuple(t(f"support_{option}") for option in SUPPORT_OPTIONS))
    doc = Document(
        language=t.language,
        subject=t("subject", city=host.city),
        greeting=t("greeting", name=partner.full_name),
        sections=(
            Section(None, (t("welcome", city=host.city),)),
            permit_section(assignment, t),
            support,
            _coach_section(match, t),
            _leads_section(match, t),
        ),
        closing=t("closing"),
    )
    return _message(Stakeholder.PARTNER, PARTNER_CONTENT, str(partner.email), doc, partner_channels(assignment))


def for_employee(assignment: Assignment, match: MatchProposedPayload) -> Message:
    employee, host = assignment.employee, assignment.host_location
    t = texts(employee.preferred_language, "employee")
    body = t(
        "body",
        city=host.city,
        coach=t("coach_yes") if match.coach else t("coach_pending"),
        count=len(match.job_leads),
        country=t.country(host.country),
    )
    steps = (t("next_contacted"), *((t("next_coach"),) if match.coach else ()), t("next_record"))
    doc = Document(
        t.language,
        t("subject"),
        t("greeting", name=employee.full_name),
        (Section(None, (body,)), Section(t("next_heading"), (), steps)),
        t("closing"),
    )
    return _message(
        Stakeholder.EMPLOYEE, EMPLOYEE_CONTENT, str(employee.email), doc, (DeliveryChannel.EMAIL, DeliveryChannel.KAFKA)
    )


def hr_actions(assignment: Assignment, match: MatchProposedPayload, t: Texts) -> tuple[str, ...]:
    """What HR must do because we will not guess: unmatched coach or leads, unverified permit facts."""
    actions = [u.message for u in match.unmatched]
    if confirmed_facts(assignment) is None:
        actions.append(t("action_permit", country=t.country(assignment.host_location.country)))
    return tuple(t("action", what=a) for a in actions)


def for_hr(assignment: Assignment, match: MatchProposedPayload, informed: list[Message], at: datetime) -> Message:
    t = texts(assignment.hr_contact.preferred_language, "hr")
    assignment_id = str(assignment.assignment_id)
    lines = tuple(
        t(
            "informed_line",
            stakeholder=m.stakeholder.value,
            content_kind=m.content_kind,
            channel=m.channel.value,
            at=at.isoformat(),
        )
        for m in informed
    )
    profile = assignment.partner.profile
    shared = (
        t(
            "profile_shared",
            occupation=profile.occupation,
            sector=profile.sector.value,
            goals=", ".join(g.value for g in profile.goals),
        )
        if assignment.partner.consent.share_profile_with_hr
        else t("profile_private")
    )
    actions = hr_actions(assignment, match, t)
    sections = [
        Section(None, (t("record", assignment=assignment_id),)),
        Section(t("informed_heading"), (), lines),
        Section(None, (shared,)),
    ]
    if actions:
        sections.append(Section(t("actions_heading"), (), actions))
    doc = Document(t.language, t("subject", assignment=assignment_id), None, tuple(sections))
    by = (DeliveryChannel.EMAIL, DeliveryChannel.WEBHOOK, DeliveryChannel.KAFKA)
    return _message(Stakeholder.HR, HR_RECORD, str(assignment.hr_contact.email), doc, by)


def duty_of_information(assignment: Assignment, match: MatchProposedPayload, at: datetime) -> list[Message]:
    """Everything owed once the assignment and its match are both known; HR's record comes last
    because it lists the other two."""
    informed = [for_partner(assignment, match), for_employee(assignment, match)]
    return [*informed, for_hr(assignment, match, informed, at)]


# --- updates: a later match for the same assignment -------------------------------------------


@dataclass(frozen=True)
class MatchChanges:
    coach_changed: bool
    added_leads: tuple[JobLeadProposal, ...]
    removed_leads: tuple[JobLeadProposal, ...]


def match_changes(previous: MatchProposedPayload, current: MatchProposedPayload) -> MatchChanges | None:
    """What a partner would notice; None when nothing they were told has changed."""
    old_coach = previous.coach.coach_id if previous.coach else None
    new_coach = current.coach.coach_id if current.coach else None
    old_leads = {lead.job_lead_id: lead for lead in previous.job_leads}
    new_leads = {lead.job_lead_id: lead for lead in current.job_leads}
    added = tuple(lead for key, lead in new_leads.items() if key not in old_leads)
    removed = tuple(lead for key, lead in old_leads.items() if key not in new_leads)
    if old_coach == new_coach and not added and not removed:
        return None
    return MatchChanges(old_coach != new_coach, added, removed)


def update_kind(current: MatchProposedPayload) -> str:
    """One content kind per distinct proposal, so a redelivered update is recognised as sent."""
    digest = hashlib.sha256(current.model_dump_json(exclude={"proposed_at"}).encode()).hexdigest()[:16]
    return f"{PARTNER_UPDATE}.{digest}"


def for_partner_update(assignment: Assignment, current: MatchProposedPayload, changes: MatchChanges) -> Message:
    partner, host = assignment.partner, assignment.host_location
    t = texts(partner.preferred_language, "partner")
    sections = [Section(None, (t("update_intro"),))]
    if changes.coach_changed and current.coach is not None:
        coach = _coach_section(current, t)
        sections.append(
            Section(
                coach.heading,
                (t("update_new_coach", coach=current.coach.display_name), *coach.paragraphs[1:]),
                coach.bullets,
            )
        )
    elif changes.coach_changed:
        sections.append(Section(t("coach_heading"), (t("update_coach_gone"),)))
    if changes.added_leads:
        sections.append(Section(t("update_new_leads"), (), tuple(_lead_line(lead, t) for lead in changes.added_leads)))
    if changes.removed_leads:
        gone = tuple(f"{lead.title}, {lead.organisation}" for lead in changes.removed_leads)
        sections.append(Section(t("update_gone_leads"), (), gone))
    doc = Document(
        t.language,
        t("update_subject", city=host.city),
        t("greeting", name=partner.full_name),
        tuple(sections),
        t("closing"),
    )
    return _message(Stakeholder.PARTNER, update_kind(current), str(partner.email), doc, partner_channels(assignment))


def for_hr_delivery_failed(assignment: Assignment, failed: str, attempts: int, error: str) -> Message:
    """Surfaced to HR on the firm's Kafka topic only: if HR's own mailbox is what fails, an email
    about it would fail the same way."""
    stakeholder, kind, channel = failed.split("|")
    t = texts(assignment.hr_contact.preferred_language, "hr")
    assignment_id = str(assignment.assignment_id)
    line = t("failed_line", stakeholder=stakeholder, content_kind=kind, channel=channel, attempts=attempts, error=error)
    doc = Document(
        t.language,
        t("failed_subject", assignment=assignment_id),
        None,
        (Section(None, (t("failed_record", assignment=assignment_id), line)),),
    )
    return _message(
        Stakeholder.HR,
        f"{HR_DELIVERY_FAILED}.{stakeholder}.{kind}.{channel}",
        str(assignment.hr_contact.email),
        doc,
        (DeliveryChannel.KAFKA,),
    )
