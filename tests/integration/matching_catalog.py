"""Helpers for matching's integration tests: catalog records and assignments as a provider and a
firm would publish them, with a plain Kafka client."""

import asyncio
import json
import urllib.request
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from deploy.local import kafka_access
from deploy.local.config import LOCAL_FIRMS, LOCAL_PROVIDERS, StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request
from shared import topics
from shared.topics import FirmEvent, ProviderEvent, firm_topic, provider_topic, tenant_of

# The local stack's firm and catalog provider (deploy/local/config.py): their topics come with the
# stack, and the provider owns the sample catalog.
FIRM = LOCAL_FIRMS[0]
PROVIDER = LOCAL_PROVIDERS[0]
REQUEST_TOPIC = firm_topic(FIRM, FirmEvent.ASSIGNMENT_REQUESTED)
COACHES = provider_topic(PROVIDER, ProviderEvent.CATALOG_COACHES)
JOB_LEADS = provider_topic(PROVIDER, ProviderEvent.CATALOG_JOB_LEADS)
CATALOG_REJECTED = provider_topic(PROVIDER, ProviderEvent.CATALOG_REJECTED)
WARM_UP = ("Vaduz", "LI")  # no test matches here: records that only show a replica consumes


async def publish_to(kafka: StackConfig, topic: str, records: list[tuple[str, dict[str, Any] | None]]) -> None:
    """As the topic's own firm or provider would (signed in as itself), or as the stack's tooling
    for an internal topic."""
    tenant = tenant_of(topic)
    options = (
        kafka_access.client_options(kafka)
        if tenant is None
        else kafka_access.tenant_options(kafka, tenant.kind, tenant.id)
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka.kafka_bootstrap, acks="all", enable_idempotence=True, **options)
    await producer.start()
    try:
        for key, value in records:
            raw = None if value is None else json.dumps(value).encode()
            await producer.send_and_wait(topic, value=raw, key=key.encode())
    finally:
        await producer.stop()


def coach(coach_id: str, language: str, city: str, country: str, capacity: int) -> dict[str, Any]:
    return {
        "coach_id": coach_id,
        "display_name": f"Coach {coach_id}",
        "contact_email": f"{coach_id}@coach.example",
        "languages": [{"code": language, "level": "C2"}, {"code": "de", "level": "A2"}],
        "sectors": ["energy"],
        "specialties": ["employment"],
        "cities": [{"city": city, "country": country}],
        "remote": False,
        "timezone": "Atlantic/Reykjavik" if country == "IS" else "Europe/Malta",
        "capacity": capacity,
        "rating": 4.6,
    }


def job_lead(lead_id: str, city: str, country: str) -> dict[str, Any]:
    return {
        "job_lead_id": lead_id,
        "kind": "job",
        "title": "Reservoir engineer",
        "organisation": "Geothermal Power hf",
        "location": {"city": city, "country": country},
        "remote": False,
        "sector": "energy",
        "occupation": "reservoir engineer",
        "skills": ["perform reservoir simulation", "manage project"],
        "required_languages": [],
        "work_rights_required": False,
        "visa_sponsorship": False,
        "expires_at": (datetime.now(UTC) + timedelta(days=20)).isoformat(),
    }


def partner_request(language: str, city: str, country: str) -> dict[str, Any]:
    family = replace(SAMPLE_FAMILIES[0], partner_languages={language: "C2"}, host=(city, country))
    return assignment_request(family, firm_id=FIRM)


async def publish_requests(kafka: StackConfig, requests: list[dict[str, Any]]) -> None:
    await publish_to(kafka, REQUEST_TOPIC, [(r["payload"]["assignment_id"], r) for r in requests])


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def second_replica_consumes(cfg: StackConfig) -> bool:
    """Whether the second replica has handled an assignment and a coach record yet (then both
    consumer groups have rebalanced: the first replica keeps the other partitions). Each call
    that finds it has not publishes a few more, for a place no test matches in."""
    counts = [await asyncio.to_thread(handled, cfg, 1, topic) for topic in (topics.ASSIGNMENT_CREATED, COACHES)]
    if all(counts):
        return True
    await publish_requests(cfg, [partner_request("de", *WARM_UP) for _ in range(2)])
    warm_up = [unique("coach-warm-up") for _ in range(2)]
    await publish_to(cfg, COACHES, [(c, coach(c, "de", *WARM_UP, 0)) for c in warm_up])
    return False


def handled(cfg: StackConfig, replica: int, topic: str) -> float:
    """Records of `topic` the replica has handled (its /metrics)."""
    url = f"http://127.0.0.1:{cfg.health_port('matching', replica)}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "trailblazer_handler_duration_seconds_count"
        and sample.labels.get("topic") == topic
        and sample.labels.get("outcome") == "ok"
    )
