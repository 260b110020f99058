"""care's check-ins, sent to the partner in the partner's language: care decides when (its durable
timers) and signs the answer link; notifications composes and delivers, and the delivery joins the
duty-of-information record like every other message (`partner.check_in.<kind>`, once per kind).

Kept apart from the duty-of-information composition on purpose: a check-in is one short question.
"""

import logging
from collections.abc import Callable
from datetime import date

from faststream.kafka import KafkaMessage

from shared.contracts import AssignmentCreatedPayload, Channel, Stakeholder
from shared.contracts.care import CheckInDue
from shared.contracts.decoding import decode
from shared.db import Connection
from shared.inbox import first_sighting

from . import deliveries, repository
from .content import Document, Section, render
from .domain import Message, partner_channels
from .i18n import Texts, texts
from .informing import queue_message

log = logging.getLogger(__name__)

CONTENT_KIND = "partner.check_in"

# Short enough to keep here; English is the fallback for any other language.
_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "subject": "How are you doing in {city}?",
        "greeting": "Dear {name},",
        "before": "Your move to {city} starts on {day}. How ready do you feel?",
        "after": "You have been in {city} since {day}. How are things going for you?",
        "ask": "Please rate your situation from 1 (very difficult) to 10 (very good); a comment is welcome.",
        "link": "Answer here (one click, open until {until}): {url}",
        "why": "Your answer goes to your relocation firm, who will contact you if you need support.",
        "closing": "Kind regards, your relocation support team",
    },
    "de": {
        "subject": "Wie geht es Ihnen in {city}?",
        "greeting": "Liebe/r {name},",
        "before": "Ihr Umzug nach {city} beginnt am {day}. Wie gut vorbereitet fühlen Sie sich?",
        "after": "Sie sind seit dem {day} in {city}. Wie geht es Ihnen?",
        "ask": "Bitte bewerten Sie Ihre Situation von 1 (sehr schwierig) bis 10 (sehr gut); ein Kommentar ist"
        " willkommen.",
        "link": "Hier antworten (ein Klick, offen bis {until}): {url}",
        "why": "Ihre Antwort geht an Ihre Relocation-Firma, die sich meldet, wenn Sie Unterstützung brauchen.",
        "closing": "Mit freundlichen Grüßen, Ihr Relocation-Support-Team",
    },
    "fr": {
        "subject": "Comment allez-vous à {city} ?",
        "greeting": "Bonjour {name},",
        "before": "Votre départ pour {city} est prévu le {day}. Vous sentez-vous prêt(e) ?",
        "after": "Vous êtes à {city} depuis le {day}. Comment cela se passe-t-il pour vous ?",
        "ask": "Notez votre situation de 1 (très difficile) à 10 (très bien) ; un commentaire est le bienvenu.",
        "link": "Répondre ici (un clic, ouvert jusqu'au {until}) : {url}",
        "why": "Votre réponse est transmise à votre société de relocation, qui vous contactera si besoin.",
        "closing": "Cordialement, votre équipe d'accompagnement",
    },
    "es": {
        "subject": "¿Qué tal le va en {city}?",
        "greeting": "Estimado/a {name}:",
        "before": "Su traslado a {city} empieza el {day}. ¿Cómo de preparado/a se siente?",
        "after": "Está en {city} desde el {day}. ¿Cómo le va?",
        "ask": "Valore su situación de 1 (muy difícil) a 10 (muy buena); los comentarios son bienvenidos.",
        "link": "Responda aquí (un clic, abierto hasta el {until}): {url}",
        "why": "Su respuesta llega a su empresa de reubicación, que le contactará si necesita apoyo.",
        "closing": "Saludos cordiales, su equipo de apoyo a la reubicación",
    },
    "nb": {
        "subject": "Hvordan har du det i {city}?",
        "greeting": "Kjære {name},",
        "before": "Flyttingen til {city} starter {day}. Hvor forberedt føler du deg?",
        "after": "Du har vært i {city} siden {day}. Hvordan går det med deg?",
        "ask": "Gi situasjonen din en karakter fra 1 (svært vanskelig) til 10 (svært bra); kommenter gjerne.",
        "link": "Svar her (ett klikk, åpent til {until}): {url}",
        "why": "Svaret går til relokaliseringsfirmaet ditt, som tar kontakt hvis du trenger støtte.",
        "closing": "Vennlig hilsen, ditt team for relokaliseringsstøtte",
    },
}


def _text(t: Texts, key: str, **values: object) -> str:
    return _TEXTS.get(t.language, _TEXTS["en"]).get(key, _TEXTS["en"][key]).format(**values)


def compose(created: AssignmentCreatedPayload, due: CheckInDue, today: date) -> Message:
    """The check-in for the partner: pure."""
    assignment, check_in = created.assignment, due.payload
    partner, city = assignment.partner, assignment.host_location.city
    t = texts(partner.preferred_language, "partner")  # the language notifications writes for the partner
    started = check_in.start_date <= today
    doc = Document(
        language=t.language,
        subject=_text(t, "subject", city=city),
        greeting=_text(t, "greeting", name=partner.full_name),
        sections=(
            Section(
                None,
                (
                    _text(t, "after" if started else "before", city=city, day=t.day(check_in.start_date)),
                    _text(t, "ask"),
                    _text(t, "link", url=check_in.answer_url, until=t.day(check_in.answer_by.date())),
                    _text(t, "why"),
                ),
            ),
        ),
        closing=_text(t, "closing"),
    )
    rendered = render(doc)
    return Message(
        Stakeholder.PARTNER,
        Channel.EMAIL,
        f"{CONTENT_KIND}.{check_in.kind}",
        doc.language,
        str(partner.email),
        doc.subject,
        rendered.text,
        rendered.html,
        partner_channels(assignment),
    )


async def send_check_in(connection: Connection, message: KafkaMessage, *, has_webhook: Callable[[str], bool]) -> None:
    """Queue the check-in like any message; a stopped assignment gets none (care cancels its
    check-ins too; this covers one already on its way)."""
    due = decode(message.body, CheckInDue)
    assignment_id = due.payload.assignment_id
    await repository.lock_assignment(connection, assignment_id)
    if not await first_sighting(connection, consumer="notifications", event_id=str(due.event_id)):
        return
    known = await repository.created_of(connection, assignment_id)
    if known is None or known[0] != due.firm_id:
        raise LookupError("check-in for an assignment notifications does not hold")
    firm_id, correlation_id, created = known
    cancelled, withdrawn = await deliveries.stops(connection, assignment_id)
    if cancelled:
        return
    await queue_message(
        connection,
        assignment_id=assignment_id,
        firm_id=firm_id,
        correlation_id=correlation_id,
        message=compose(created, due, due.occurred_at.date()),
        at=due.occurred_at,
        firm_has_webhook=has_webhook(firm_id),
        suppressed=withdrawn,
    )
