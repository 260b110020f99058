"""A relocation firm, as seen from Kafka: builds assignment requests as plain JSON and publishes
them with a plain aiokafka producer, exactly as an outside firm's integration would.

Used by the demo and the end-to-end tests; nothing here imports the services' own contracts, so
it also checks that the documented wire format is enough to integrate.
"""

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from deploy.local import kafka_access
from deploy.local.config import StackConfig


def firm_topic(firm_id: str, event: str) -> str:
    """A firm's own topic, as docs/tenancy.md names it: the firm writes its requests, cancellations,
    consent withdrawals and acceptances to its own inbound topics and reads the answers on its own
    outbound ones."""
    return f"trailblazer.firm.{firm_id}.{event}.v1"


def request_topic(firm_id: str) -> str:
    return firm_topic(firm_id, "assignment.requested")


@dataclass(frozen=True)
class Family:
    employee: str
    partner: str
    partner_languages: dict[str, str]
    occupation: str
    skills: list[str]  # copied into each request: a caller may change its request freely
    sector: str
    goals: list[str]
    work_permit: str
    home: tuple[str, str]
    host: tuple[str, str]
    preferred_language: str = "en"


SAMPLE_FAMILIES = (
    Family(
        "Jonas Weber",
        "Anna Weber",
        {"de": "C2", "en": "C1", "no": "A2"},
        "Reservoir engineer",
        ["manage project", "perform reservoir simulation", "analyse geological data"],
        "energy",
        ["employment"],
        "dependent_permit_with_work_rights",
        ("Munich", "DE"),
        ("Stavanger", "NO"),
        "de",
    ),
    Family(
        "Lucía Romero",
        "Diego Romero",
        {"es": "C2", "en": "B2"},
        "Financial analyst",
        ["perform financial analysis", "prepare financial statements", "use spreadsheets software"],
        "finance",
        ["employment", "education"],
        "dependent_permit_without_work_rights",
        ("Madrid", "ES"),
        ("Houston", "US"),
        "es",
    ),
    Family(
        "Priya Nair",
        "Arjun Nair",
        {"en": "C2", "hi": "C2"},
        "Software developer",
        ["Python (computer programming)", "develop software", "use agile development"],
        "information_technology",
        ["employment", "integration"],
        "has_work_rights",
        ("Bangalore", "IN"),
        ("Amsterdam", "NL"),
    ),
)


def assignment_request(
    family: Family, *, firm_id: str = "nordic-relocation", today: date | None = None
) -> dict[str, Any]:
    """One `assignment.requested` event as a firm writes it (see docs/events.md)."""
    today = today or date.today()
    now = datetime.now(UTC).isoformat()
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "assignment.requested",
        "schema_version": 1,
        "occurred_at": now,
        "firm_id": firm_id,
        "correlation_id": f"{firm_id}-{uuid.uuid4().hex[:12]}",
        "payload": {
            "assignment_id": str(uuid.uuid4()),
            "employee": {"full_name": family.employee, "email": _email(family.employee), "preferred_language": "en"},
            "partner": {
                "full_name": family.partner,
                "email": _email(family.partner),
                "preferred_language": family.preferred_language,
                "channels": ["email"],
                "profile": {
                    "languages": [{"code": c, "level": lvl} for c, lvl in family.partner_languages.items()],
                    "occupation": family.occupation,
                    "skills": list(family.skills),
                    "sector": family.sector,
                    "goals": list(family.goals),
                    "work_permit": family.work_permit,
                },
                "consent": {
                    "given_by_partner": True,
                    "matching": True,
                    "share_profile_with_hr": False,
                    "recorded_at": now,
                },
            },
            "hr_contact": {"full_name": "Mobility Team", "email": f"mobility@{firm_id}.example"},
            "home_location": {"city": family.home[0], "country": family.home[1]},
            "host_location": {"city": family.host[0], "country": family.host[1]},
            "start_date": (today + timedelta(days=45)).isoformat(),
        },
    }


def _email(name: str) -> str:
    return name.lower().replace(" ", ".").replace("í", "i") + "@family.example"


def record_key(request: dict[str, Any]) -> bytes:
    """Firms key each record by its assignment id, so that one assignment's events stay ordered."""
    return str(request["payload"]["assignment_id"]).encode()


async def publish(
    kafka: str | StackConfig,
    records: Sequence[tuple[bytes | None, bytes]],
    client_options: Mapping[str, Any] | None = None,
    *,
    firm_id: str = "nordic-relocation",
) -> None:
    """Publish raw (key, value) records to the firm's request topic and wait until the broker has
    them all. `kafka`: a local stack, where the firm signs in as itself (`firm-<firm_id>`, its ACLs
    and nothing more), or a bootstrap with `client_options`, aiokafka's TLS/SASL arguments
    (`shared.kafka_security.KafkaSecurity.client_options`)."""
    if isinstance(kafka, StackConfig) and client_options is None:
        client_options = kafka_access.tenant_options(kafka, "firm", firm_id)
    bootstrap, options = kafka_access.endpoint(kafka, dict(client_options or {}))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **options)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(request_topic(firm_id), value=value, key=key)
    finally:
        await producer.stop()


def encode(request: dict[str, Any]) -> bytes:
    return json.dumps(request).encode()
