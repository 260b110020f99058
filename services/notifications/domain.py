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
    CriterionScore,
    DeliveryChannel,
    JobLeadProposal,
    LeadKind,
    MatchProposedPayload,
    Stakeholder,
    WorkPermitStatus,
)

from . import host_countries
from .content import Document, Section, render
from .host_countries import HostCountry, Verification
from .i18n import FALLBACK, Texts, alias, resolve, texts

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


def _fallback_line(preferred: str, t: Texts) -> tuple[str, ...]:
    """Said at the top when we write in English because we do not write the reader's language."""
    if t.language == alias(preferred):
        return ()
    return (t("written_in_fallback", wanted=t.language_name(preferred)),)


def permit_section(assignment: Assignment, t: Texts) -> Section:
    host = assignment.host_location
    in_country = t.in_country(host.country)
    facts = confirmed_facts(assignment)
    heading = t("right_to_work", in_country=in_country)
    if facts is None:
        return Section(heading, (t("unknown_country", in_country=in_country, hr=assignment.hr_contact.full_name),))
    lines = [t(f"may_work_{facts.partner_may_work.value}", in_country=in_country)]
    # The reviewed rule, what to apply for and how long it takes are English data: quoted to
    # English readers, and for everyone else the official source they come from.
    if t.language == FALLBACK:
        lines.append(t("rule_as_published", summary=facts.summary))
        if facts.apply_for:
            lines.append(t("apply_for", what=facts.apply_for))
        if facts.processing_time:
            lines.append(t("processing_time", time=facts.processing_time))
        else:
            lines.append(t("processing_unknown"))
        lines.append(t("source", url=str(facts.source)))
    else:
        lines.append(t("details_at_source", url=str(facts.source)))
    lines.append(t("reviewed", date=t.day(facts.last_reviewed)))
    if facts.verification is Verification.SECONDARY:
        lines.append(t("secondary"))
    status = assignment.partner.profile.work_permit
    if status in (WorkPermitStatus.UNKNOWN, WorkPermitStatus.APPLICATION_PENDING):
        lines.append(t("status_pending"))
    elif not status.may_work:
        lines.append(t("status_no_rights"))
    return Section(heading, tuple(lines))


# Said already in the line itself (where you meet, what kind of lead it is), so not repeated.
_STATED = {"criterion": {"place"}, "lead_criterion": {"place", "goals"}}


def _criteria_words(criteria: list[CriterionScore], prefix: str, t: Texts) -> list[str]:
    """Matching explains each criterion in English: English readers get those explanations, all
    others the criterion's name and score in their own words."""
    shown = [c for c in criteria if c.criterion not in _STATED[prefix]]
    if t.language == FALLBACK:
        return [c.explanation for c in shown if c.explanation]
    return [
        t("criterion", name=t(f"{prefix}_{c.criterion}"), score=t.percent(c.score))
        for c in shown
        if t.has(f"{prefix}_{c.criterion}")
    ]


def _criteria_line(criteria: list[CriterionScore], t: Texts) -> str:
    """How well it fits, criterion by criterion, in the reader's words and numbers. The matching
    service's own explanations are English; they stay in the record for those who read it."""
    parts = _criteria_words(criteria, "criterion", t)
    return t("fits", criteria=t.join(parts)) if parts else ""


def _coach_section(match: MatchProposedPayload, t: Texts) -> Section:
    coach = match.coach
    if coach is None:
        reasons = t.join(
            [
                t(f"unmatched_{u.reason_code}") if t.has(f"unmatched_{u.reason_code}") else t("unmatched_other")
                for u in match.unmatched
                if u.subject == "coach"
            ]
        )
        return Section(t("coach_heading"), (t("no_coach", reasons=reasons or t("unmatched_other")),))
    if coach.location is not None and not coach.remote:
        where = t("coach_meets", city=coach.location.city)
    elif coach.location is not None:
        where = t("coach_meets_or_remote", city=coach.location.city)
    else:
        where = t("coach_remote")
    paragraphs = [t("coach_intro", coach=coach.display_name, score=t.percent(coach.score)), where]
    if line := _criteria_line(coach.criteria, t):
        paragraphs.append(line)
    paragraphs.append(t("coach_reach", email=coach.contact_email))
    return Section(t("coach_heading"), tuple(paragraphs))


def _may_take(lead: JobLeadProposal, assignment: Assignment, t: Texts) -> str:
    """Whether the partner may take the lead, said plainly. Matching proposes only leads the
    partner's permit allows; this says why."""
    if lead.kind is not LeadKind.JOB:
        return t("lead_permit_not_job")
    if lead.visa_sponsorship:
        return t("lead_permit_sponsored")
    if lead.work_rights_required is False:
        return t("lead_permit_not_needed")
    if lead.work_rights_required and assignment.partner.profile.work_permit.may_work:
        return t("lead_permit_yours")
    if lead.work_rights_required:
        return t("lead_permit_eligible")
    return t("lead_permit_unknown")


def _lead_score(lead: JobLeadProposal, t: Texts) -> str:
    """The total, then each criterion by name and score in the reader's words (matching's own
    explanations are English)."""
    parts = _criteria_words(lead.criteria, "lead_criterion", t)
    if not parts:
        return t("lead_score", score=t.percent(lead.score))
    return t("lead_score_with", score=t.percent(lead.score), criteria=t.join(parts))


def _lead_line(lead: JobLeadProposal, assignment: Assignment, t: Texts) -> str:
    place = t("lead_remote", city=lead.location.city) if lead.remote else lead.location.city
    parts = [
        t(f"lead_kind_{lead.kind.value}", title=lead.title, organisation=lead.organisation, place=place),
        _may_take(lead, assignment, t),
        _lead_score(lead, t),
    ]
    if lead.url:
        parts.append(lead.url)
    return " ".join(parts)


def _leads_section(match: MatchProposedPayload, assignment: Assignment, t: Texts) -> Section:
    if not match.job_leads:
        return Section(t("leads_heading_none"), (t("no_leads"),))
    return Section(
        t("leads_heading", count=t.number(len(match.job_leads))),
        (),
        tuple(_lead_line(lead, assignment, t) for lead in match.job_leads),
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
            Section(None, (*_fallback_line(partner.preferred_language, t), t("welcome", city=host.city))),
            permit_section(assignment, t),
            support,
            _coach_section(match, t),
            _leads_section(match, assignment, t),
        ),
        closing=t("closing"),
    )
    return _message(Stakeholder.PARTNER, PARTNER_CONTENT, str(partner.email), doc, partner_channels(assignment))


def for_employee(assignment: Assignment, match: MatchProposedPayload) -> Message:
    employee, partner, host = assignment.employee, assignment.partner, assignment.host_location
    t = texts(employee.preferred_language, "employee")
    body = t(
        "body",
        city=host.city,
        coach=t("coach_yes") if match.coach else t("coach_pending"),
        leads=t("leads_count", count=t.number(len(match.job_leads))) if match.job_leads else t("leads_none"),
        in_country=t.in_country(host.country),
    )
    partner_wrote = resolve(partner.preferred_language)
    if partner_wrote == alias(partner.preferred_language):
        contacted = t("next_contacted", language=t.language_name(partner_wrote))
    else:
        contacted = t(
            "next_contacted_fallback",
            language=t.language_name(partner_wrote),
            wanted=t.language_name(partner.preferred_language),
        )
    steps = (contacted, *((t("next_coach"),) if match.coach else ()), t("next_record"))
    doc = Document(
        t.language,
        t("subject"),
        t("greeting", name=employee.full_name),
        (Section(None, (*_fallback_line(employee.preferred_language, t), body)), Section(t("next_heading"), (), steps)),
        t("closing"),
    )
    return _message(
        Stakeholder.EMPLOYEE, EMPLOYEE_CONTENT, str(employee.email), doc, (DeliveryChannel.EMAIL, DeliveryChannel.KAFKA)
    )


def hr_actions(assignment: Assignment, match: MatchProposedPayload, t: Texts) -> tuple[str, ...]:
    """What HR must do because we will not guess: unmatched coach or leads, unverified permit facts."""
    actions = [
        t(
            f"unmatched_{u.subject}",
            reason=t(f"reason_{u.reason_code}") if t.has(f"reason_{u.reason_code}") else u.message,
        )
        for u in match.unmatched
    ]
    if confirmed_facts(assignment) is None:
        actions.append(t("action_permit", in_country=t.in_country(assignment.host_location.country)))
    return tuple(actions)


@dataclass(frozen=True)
class Outcome:
    """What happened to one delivery of the partner's or the employee's first message, as the
    deliveries table knows it: the real channel, the final status and when it was reached."""

    stakeholder: Stakeholder
    channel: DeliveryChannel
    status: str  # sent | delivered | failed | suppressed | cancelled
    at: datetime | None
    attempts: int
    error: str | None = None

    @property
    def reached(self) -> bool:
        return self.status in ("sent", "delivered")


# An error code's first word → what HR reads (catalogue key `error_<word>`); anything else is a
# technical error, shown with its code for whoever operates the platform.
_ERROR_WORDS = (
    "smtp_recipient_refused",
    "smtp_recipient_deferred",
    "smtp_unavailable",
    "smtp_auth_failed",
    "webhook_not_configured",
    "webhook_unavailable",
    "compose_failed",
    "attempt_interrupted",
    "unexpected",
)


def _error_text(error: str | None, t: Texts) -> str:
    code = (error or "").split(" ", 1)[0]
    if code in _ERROR_WORDS:
        return t(f"error_{code}")
    if code.startswith("webhook_http_"):
        return t("error_webhook_http", status=code.removeprefix("webhook_http_"))
    if code.startswith("smtp_") and code[5:].isdigit():
        return t("error_smtp_code", status=code[5:])
    return t("error_other", code=code or "?")


def _outcome_line(outcome: Outcome, t: Texts) -> str:
    who = t(f"who_{outcome.stakeholder.value}")
    how = t(f"by_{outcome.channel.value}")
    if outcome.reached and outcome.at is not None:
        return t(f"reached_{outcome.channel.value}", who=who, when=t.moment(outcome.at))
    if outcome.status == "suppressed":
        return t("not_sent_withdrawn", who=who, how=how)
    if outcome.status == "cancelled":
        return t("not_sent_cancelled", who=who, how=how)
    return t(
        "not_reached",
        who=who,
        how=how,
        attempts=t.number(outcome.attempts),
        reason=_error_text(outcome.error, t),
    )


def for_hr(assignment: Assignment, match: MatchProposedPayload, outcomes: list[Outcome]) -> Message:
    """HR's record, written once the partner's and the employee's deliveries have settled: it
    names the channels that were really used and when each message really left, and says plainly
    when someone was not reached and what HR should do instead."""
    t = texts(assignment.hr_contact.preferred_language, "hr")
    assignment_id = str(assignment.assignment_id)
    host = assignment.host_location
    where = t("where", city=host.city, in_country=t.in_country(host.country))
    informed = {o.stakeholder for o in outcomes if o.reached}
    missing = [s for s in (Stakeholder.PARTNER, Stakeholder.EMPLOYEE) if s not in informed]
    lines = tuple(_outcome_line(o, t) for o in sorted(outcomes, key=lambda o: (o.stakeholder != "partner", o.channel)))
    profile = assignment.partner.profile
    shared = (
        t(
            "profile_shared",
            occupation=profile.occupation,
            sector=t(f"sector_{profile.sector.value}"),
            goals=t.join([t(f"goal_{g.value}") for g in profile.goals]),
        )
        if assignment.partner.consent.share_profile_with_hr
        else t("profile_private")
    )
    actions = list(hr_actions(assignment, match, t))
    for stakeholder in missing:
        actions.insert(0, t(f"action_inform_{stakeholder.value}"))
    if missing:
        subject = t("subject_incomplete", where=where)
        opening = t("record_incomplete", assignment=assignment_id, where=where)
    else:
        subject = t("subject", where=where)
        opening = t("record", assignment=assignment_id, where=where)
    translated = _fallback_note(assignment, t)
    sections = [Section(None, (opening, *translated)), Section(t("informed_heading"), (), lines)]
    sections.append(Section(None, (shared,)))
    if actions:
        sections.append(Section(t("actions_heading"), (), tuple(actions)))
    doc = Document(
        t.language, subject, t("greeting", name=assignment.hr_contact.full_name), tuple(sections), t("closing")
    )
    by = (DeliveryChannel.EMAIL, DeliveryChannel.WEBHOOK, DeliveryChannel.KAFKA)
    return _message(Stakeholder.HR, HR_RECORD, str(assignment.hr_contact.email), doc, by)


def _fallback_note(assignment: Assignment, t: Texts) -> tuple[str, ...]:
    """Said to HR when someone was written to in another language than the one they prefer."""
    notes = []
    for role, person in (("partner", assignment.partner), ("employee", assignment.employee)):
        written = resolve(person.preferred_language)
        if written != alias(person.preferred_language):
            notes.append(
                t(
                    "fallback_note",
                    who=t(f"who_{role}"),
                    wanted=t.language_name(person.preferred_language),
                    written=t.language_name(written),
                )
            )
    return tuple(notes)


def duty_of_information(assignment: Assignment, match: MatchProposedPayload) -> list[Message]:
    """What is owed at once, once the assignment and its match are both known: the partner's and
    the employee's messages. HR's record follows when both have really gone out (`for_hr`)."""
    return [for_partner(assignment, match), for_employee(assignment, match)]


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
        sections.append(
            Section(t("update_new_leads"), (), tuple(_lead_line(lead, assignment, t) for lead in changes.added_leads))
        )
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


def _content_words(content_kind: str, t: Texts) -> str:
    for prefix, key in (
        (PARTNER_CONTENT, "content_partner_first"),
        (PARTNER_UPDATE, "content_partner_update"),
        (EMPLOYEE_CONTENT, "content_employee"),
        (HR_RECORD, "content_hr_record"),
    ):
        if content_kind.startswith(prefix):
            return t(key)
    return t("content_other")


def for_hr_delivery_failed(
    assignment: Assignment,
    *,
    stakeholder: Stakeholder,
    content_kind: str,
    channel: DeliveryChannel,
    attempts: int,
    error: str,
) -> Message:
    """A delivery failed for good: HR is told what failed, for whom, why, and what to do."""
    t = texts(assignment.hr_contact.preferred_language, "hr")
    assignment_id = str(assignment.assignment_id)
    host = assignment.host_location
    where = t("where", city=host.city, in_country=t.in_country(host.country))
    line = t(
        "failed_line",
        who=t(f"who_{stakeholder.value}"),
        content=_content_words(content_kind, t),
        how=t(f"by_{channel.value}"),
        attempts=t.number(attempts),
        reason=_error_text(error, t),
    )
    todo = t("action_operator") if stakeholder is Stakeholder.HR else t(f"action_inform_{stakeholder.value}")
    doc = Document(
        t.language,
        t("failed_subject", where=where),
        t("greeting", name=assignment.hr_contact.full_name),
        (Section(None, (t("failed_record", assignment=assignment_id, where=where), line, todo)),),
        t("closing"),
    )
    # Not through what failed: the firm has one webhook endpoint for every role, and HR's own
    # mailbox failing would fail an e-mail about it too. Kafka always.
    failed_path = channel if (channel is DeliveryChannel.WEBHOOK or stakeholder is Stakeholder.HR) else None
    by = tuple(
        c for c in (DeliveryChannel.EMAIL, DeliveryChannel.WEBHOOK, DeliveryChannel.KAFKA) if c is not failed_path
    )
    return _message(
        Stakeholder.HR,
        f"{HR_DELIVERY_FAILED}.{stakeholder.value}.{content_kind}.{channel.value}",
        str(assignment.hr_contact.email),
        doc,
        by,
    )
