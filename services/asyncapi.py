"""The AsyncAPI 3 document of the whole platform, generated from the code.

    python -m services.asyncapi                  rewrite shared/contracts/asyncapi.json
    python -m services.asyncapi html [FILE]      the same document as one HTML page
    python -m services.asyncapi check            exit 1 if the committed document is stale

Every service's `register` runs against a documentation broker (FastStream's KafkaBroker, never
connected), so the channels it reads are the topics and patterns it really subscribes to, with
their consumer groups; what it writes through the outbox is the `publishes` of its `Service`.
Messages are the pydantic contracts (the same schemas as docs/schemas), keys and headers as the
code writes them. FastStream's specification support (`faststream.specification.AsyncAPI`) gives
the document's frame: info, the Kafka server and its security scheme. Its channels are rebuilt
here, because FastStream 0.6 names a channel's address after the handler, lists one channel per
subscriber, and leaves pattern subscriptions (every firm's topic) out.
"""

import json
import re
import ssl
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from faststream.kafka import KafkaBroker
from faststream.security import SASLScram512
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from shared import dead_letter, topics
from shared.contracts import (
    AssignmentCancelled,
    AssignmentCreated,
    AssignmentRejected,
    AssignmentRequested,
    CatalogRejected,
    Coach,
    DeliveryRecorded,
    JobLead,
    MatchAcceptanceRefused,
    MatchAccepted,
    MatchProposed,
    MatchUpdated,
    PartnerConsentWithdrawn,
    StakeholderNotified,
)
from shared.contracts.care import (
    CareEscalation,
    CareRefused,
    CheckInDue,
    DutyOfCareEntry,
    EscalationClosed,
    OutcomeReported,
    PermitClarified,
    ProviderScorecard,
    PulseGiven,
    SessionHeld,
)
from shared.contracts.envelope import SCHEMA_REVISION
from shared.contracts.schemas import is_strict
from shared.health import asyncapi_page
from shared.runtime import Publication, Service

DOCUMENT = Path(__file__).parents[1] / "shared" / "contracts" / "asyncapi.json"
BINDING_VERSION = "0.5.0"
PRODUCTION_BOOTSTRAP = "kafka.trailblazer.example:9093"

_ASSIGNMENT_KEY = {"type": "string", "format": "uuid", "description": "the assignment id"}
_ANSWER_KEY = {
    "type": "string",
    "description": "the refused record's key (the assignment id when it had one), else this event's id",
}


@dataclass(frozen=True)
class Message:
    """What travels on the topics of one event name."""

    contract: type[BaseModel] | None  # None: any bytes (dead letters)
    key: dict[str, Any]
    summary: str
    tombstones: bool = False  # a null value removes the keyed record (compacted catalogs)


# Keyed by the event part of the topic name (`trailblazer[.firm.<id>].<event>.v1`). A topic whose
# event is missing here makes the generator fail: every topic is documented.
MESSAGES: dict[str, Message] = {
    "assignment.requested": Message(AssignmentRequested, _ASSIGNMENT_KEY, "A firm asks for support for an assignment"),
    "assignment.created": Message(AssignmentCreated, _ASSIGNMENT_KEY, "intake accepted and stored the assignment"),
    "assignment.rejected": Message(AssignmentRejected, _ANSWER_KEY, "intake refused a request, one reason per field"),
    "assignment.cancelled": Message(AssignmentCancelled, _ASSIGNMENT_KEY, "The firm cancelled the assignment"),
    "partner.consent-withdrawn": Message(
        PartnerConsentWithdrawn, _ASSIGNMENT_KEY, "The partner withdrew consent: nothing more is sent to them"
    ),
    "match.proposed": Message(MatchProposed, _ASSIGNMENT_KEY, "Coach and job leads proposed, explained per criterion"),
    "match.updated": Message(MatchUpdated, _ASSIGNMENT_KEY, "An open proposal changed"),
    "match.accepted": Message(MatchAccepted, _ASSIGNMENT_KEY, "The partner accepted the proposed coach"),
    "match.acceptance-refused": Message(
        MatchAcceptanceRefused, _ANSWER_KEY, "An acceptance matching could not record, one reason per field"
    ),
    "stakeholder.notified": Message(StakeholderNotified, _ASSIGNMENT_KEY, "Who was told what, and when"),
    "duty-of-information": Message(DeliveryRecorded, _ASSIGNMENT_KEY, "A delivery's status changed: the proof"),
    "catalog.coaches": Message(
        Coach, {"type": "string", "description": "the coach_id"}, "A coach record; a null value removes it", True
    ),
    "catalog.job-leads": Message(
        JobLead, {"type": "string", "description": "the job_lead_id"}, "A job lead; a null value removes it", True
    ),
    "catalog.rejected": Message(CatalogRejected, _ANSWER_KEY, "A catalog record matching refused"),
    # The duty of care (services/care, docs/care.md).
    "care.pulse-given": Message(PulseGiven, _ASSIGNMENT_KEY, "The partner's pulse, 1-10, with an optional comment"),
    "care.session-held": Message(SessionHeld, _ASSIGNMENT_KEY, "A coaching session took place"),
    "care.outcome-reported": Message(OutcomeReported, _ASSIGNMENT_KEY, "Work found, education started, enterprise"),
    "care.escalation-closed": Message(EscalationClosed, _ASSIGNMENT_KEY, "The case owner closed an escalation"),
    "care.permit-clarified": Message(PermitClarified, _ASSIGNMENT_KEY, "HR's work-permit task is done"),
    "care.escalation": Message(CareEscalation, _ASSIGNMENT_KEY, "What happened and what to do, for the case owner"),
    "duty-of-care": Message(DutyOfCareEntry, _ASSIGNMENT_KEY, "One entry of the duty-of-care record"),
    "care.scorecard": Message(
        ProviderScorecard, {"type": "string", "description": "the provider_id"}, "A provider's scorecard"
    ),
    "care.refused": Message(CareRefused, _ANSWER_KEY, "A care event care could not record, one reason per field"),
    "care.check-in-due": Message(CheckInDue, _ASSIGNMENT_KEY, "A check-in for notifications to send to the partner"),
    "dead-letter": Message(
        None, {"type": "string", "description": "the original record's key"}, "A record a service could not handle"
    ),
}

_TEMPLATE = {
    topics.Kind.FIRM: (topics.FirmEvent, "firm_id", topics.firm_pattern, topics.FIRM_PREFIX),
    topics.Kind.PROVIDER: (topics.ProviderEvent, "provider_id", topics.provider_pattern, topics.PROVIDER_PREFIX),
}
_TENANT_ID = {
    "description": "the firm's or provider's id: 1-48 of a-z, 0-9 and '-', starting and ending with a letter or digit",
    "examples": ["nordic-relocation"],
}


@dataclass(frozen=True)
class Channel:
    """One topic, or one topic per tenant (`address` with a `{firm_id}`/`{provider_id}` parameter)."""

    key: str
    address: str
    event: str
    parameter: str | None = None


def _literal(topic: str) -> Channel:
    match = re.fullmatch(r"trailblazer\.(.+)\.v1", topic)
    if match is None:
        raise ValueError(f"{topic} does not follow trailblazer.<event>.v1")
    return Channel(match[1], topic, match[1])


def _tenant_channel(kind: topics.Kind, event: str) -> Channel:
    _, parameter, _, prefix = _TEMPLATE[kind]
    return Channel(f"{kind}.{event}", f"{prefix}{{{parameter}}}.{event}.{topics.TOPIC_VERSION}", event, parameter)


def channel_of(publication: Publication) -> Channel:
    if isinstance(publication, topics.FirmEvent):
        return _tenant_channel(topics.Kind.FIRM, publication.value)
    if isinstance(publication, topics.ProviderEvent):
        return _tenant_channel(topics.Kind.PROVIDER, publication.value)
    return _literal(publication)


def _channels_of_pattern(pattern: str) -> list[Channel]:
    """The tenant channels a subscription pattern reads: the events whose topic (of a sample
    tenant) it matches. One pattern may read several events (`shared.topics.firm_pattern`)."""
    regex = re.compile(pattern)
    found = []
    for kind, (events, _, _, prefix) in _TEMPLATE.items():
        for event in events:
            if regex.fullmatch(f"{prefix}example.{event.value}.{topics.TOPIC_VERSION}"):
                found.append(_tenant_channel(kind, event.value))
    if not found:
        raise ValueError(f"subscription pattern {pattern!r} matches none of shared.topics' tenant topics")
    return found


@dataclass(frozen=True)
class Subscription:
    service: str
    channel: Channel
    group_id: str | None


def subscriptions(service: Service) -> list[Subscription]:
    """What the service's handlers subscribe to, read from a broker they registered on."""
    broker = KafkaBroker()
    service.register(broker, cast(Any, None), service.settings)  # registering opens nothing
    found = []
    for subscriber in broker.subscribers:
        handler: Any = subscriber
        channels = _channels_of_pattern(handler.pattern) if handler.pattern else [_literal(t) for t in handler.topics]
        found += [Subscription(service.name, channel, handler.group_id) for channel in channels]
    return found


def _message_name(event: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[.\-_]", event))


def _schemas(name: str, model: type[BaseModel]) -> dict[str, Any]:
    """The contract's schema and its definitions, each under `<message>.<definition>` (a strict
    and a tolerant contract may share a definition's name but not its additionalProperties)."""
    schema = model.model_json_schema(ref_template=f"#/components/schemas/{name}.{{model}}")
    definitions = schema.pop("$defs", {})
    named = {name: schema, **{f"{name}.{key}": value for key, value in definitions.items()}}
    if is_strict(model):
        return named
    return {key: _open(value) for key, value in named.items()}


def _open(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open(item) for item in schema]
    return schema


def _headers(event: str, message: Message) -> dict[str, Any]:
    trace = {"type": "string", "description": "W3C trace context: the assignment's distributed trace"}
    if message.contract is None:
        reasons = {
            dead_letter.REASON: "why: `invalid_event: field=code;...`, `rejected: ...` or the error type",
            dead_letter.CONSUMER: "the service that gave up on the record",
            dead_letter.TOPIC: "where the record was",
            dead_letter.PARTITION: "its partition",
            dead_letter.OFFSET: "its offset",
            dead_letter.BASE64_HEADERS: "original headers that travel base64-encoded, comma-separated",
        }
        described = {name: {"type": "string", "description": text} for name, text in reasons.items()}
        return {"type": "object", "properties": described, "required": [dead_letter.REASON]}
    event_type = message.contract.model_fields.get("event_type")
    properties: dict[str, Any] = {"traceparent": trace, "tracestate": {"type": "string"}}
    if event_type is not None:
        properties["event_type"] = {"const": event_type.default, "description": "the envelope's event_type"}
        properties["content-type"] = {"const": "application/json"}
    return {"type": "object", "properties": properties}


def _message(event: str, message: Message) -> tuple[dict[str, Any], dict[str, Any]]:
    name = _message_name(event)
    key: dict[str, Any] = {**message.key}
    body: dict[str, Any] = {
        "name": name,
        "title": event,
        "summary": message.summary,
        "contentType": "application/json",
        "headers": _headers(event, message),
        "bindings": {"kafka": {"key": key, "bindingVersion": BINDING_VERSION}},
    }
    if message.contract is None:
        body["contentType"] = "application/octet-stream"
        body["payload"] = {"description": "the original record's value, byte for byte"}
        return body, {}
    schemas = _schemas(name, message.contract)
    reference = {"$ref": f"#/components/schemas/{name}"}
    body["payload"] = {"oneOf": [reference, {"type": "null"}]} if message.tombstones else reference
    if message.contract.model_fields.get("event_type") is not None:
        body["description"] = (
            "Read strictly: unknown fields are refused."
            if is_strict(message.contract)
            else "Readers ignore fields they do not know (tolerant reader)."
        )
    return body, schemas


def _topic_binding(channel: Channel) -> dict[str, Any]:
    """Partitions and configuration from shared.topics (onboarding and topic creation use them)."""
    specs: Iterable[Any]
    if channel.parameter is None:
        specs = [s for s in topics.TOPICS if s.name == channel.address]
    else:
        specs = [s for s in (*topics.FIRM_TOPICS, *topics.PROVIDER_TOPICS) if s.event.value == channel.event]
    binding: dict[str, Any] = {"bindingVersion": BINDING_VERSION}
    for spec in specs:
        binding["partitions"] = spec.partitions
        if spec.config:
            binding["topicConfiguration"] = {
                key: (int(value) if value.isdigit() else [value] if key == "cleanup.policy" else value)
                for key, value in spec.config.items()
                if key in ("cleanup.policy", "retention.ms")
            }
    return binding


def _purpose(channel: Channel) -> str | None:
    if channel.parameter is None:
        return next((s.purpose for s in topics.TOPICS if s.name == channel.address), None)
    specs = (*topics.FIRM_TOPICS, *topics.PROVIDER_TOPICS)
    return next((s.purpose for s in specs if s.event.value == channel.event), None)


def _frame(title: str, version: str) -> dict[str, Any]:
    """FastStream's document for a broker like production's (SASL_SSL, SCRAM-SHA-512): info, the
    server and the security scheme."""
    security = SASLScram512("<firm_id or service>", "", ssl_context=ssl.create_default_context(), use_ssl=True)
    broker = KafkaBroker(PRODUCTION_BOOTSTRAP, security=security)
    spec = AsyncAPI(broker, title=title, version=version, description=_DESCRIPTION, schema_version="3.0.0")
    frame: dict[str, Any] = json.loads(spec.to_specification().to_json())
    frame["servers"] = {"production": frame["servers"].pop("development")}
    frame["servers"]["production"]["description"] = (
        "SASL_SSL with SCRAM-SHA-512: each firm and provider authenticates as its own user, whose ACLs "
        "allow reading its own topics and writing its inbound ones (docs/tenancy.md)."
    )
    return frame


_DESCRIPTION = (
    "Trailblazer's Kafka contract, generated from the services' code by `python -m services.asyncapi`.\n\n"
    "Every value is a JSON event in one envelope (`event_id`, `event_type`, `schema_version`, `occurred_at`, "
    "`firm_id`, `correlation_id`, `payload`), keyed by the assignment id so one assignment's events keep "
    "their order. A firm's identity is the topic (`trailblazer.firm.<firm_id>.…`), never a field it wrote. "
    "What firms write is read strictly; everything else tolerantly. JSON Schemas, codes and the evolution "
    "rules: docs/events.md."
)


def document(services: Iterable[Service]) -> dict[str, Any]:
    doc = _frame("Trailblazer", f"1.{SCHEMA_REVISION}.0")
    channels: dict[str, dict[str, Any]] = {}
    operations: dict[str, dict[str, Any]] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}

    def use(channel: Channel) -> str:
        if channel.event not in MESSAGES:
            raise KeyError(f"no message documented for {channel.address}: add it to services.asyncapi.MESSAGES")
        name = _message_name(channel.event)
        if name not in messages:
            messages[name], found = _message(channel.event, MESSAGES[channel.event])
            schemas.update(found)
        if channel.key not in channels:
            body: dict[str, Any] = {
                "address": channel.address,
                "title": channel.address,
                "messages": {name: {"$ref": f"#/components/messages/{name}"}},
                "bindings": {"kafka": _topic_binding(channel)},
            }
            if (purpose := _purpose(channel)) is not None:
                body["description"] = purpose
            if channel.parameter is not None:
                body["parameters"] = {channel.parameter: _TENANT_ID}
            channels[channel.key] = body
        return name

    for service in services:
        for subscription in subscriptions(service):
            name = use(subscription.channel)
            operation: dict[str, Any] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{subscription.channel.key}"},
                "messages": [{"$ref": f"#/channels/{subscription.channel.key}/messages/{name}"}],
                "summary": f"{service.name} reads {subscription.channel.event}",
            }
            if subscription.group_id:
                group = {"type": "string", "enum": [subscription.group_id]}
                operation["bindings"] = {"kafka": {"groupId": group, "bindingVersion": BINDING_VERSION}}
            operations[f"{service.name}.receive.{subscription.channel.key}"] = operation
        for publication in service.publishes:
            channel = channel_of(publication)
            name = use(channel)
            operations[f"{service.name}.send.{channel.key}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{channel.key}"},
                "messages": [{"$ref": f"#/channels/{channel.key}/messages/{name}"}],
                "summary": f"{service.name} writes {channel.event} (through its outbox)",
            }
    doc["channels"] = dict(sorted(channels.items()))
    doc["operations"] = dict(sorted(operations.items()))
    doc["components"] = {
        "messages": dict(sorted(messages.items())),
        "schemas": dict(sorted(schemas.items())),
        "securitySchemes": doc.get("components", {}).get("securitySchemes", {}),
    }
    return doc


def platform() -> list[Service]:
    """The services as they are wired to run (imported here only: services never import
    each other)."""
    from services.care.app import create_service as care
    from services.gateway.app import create_service as gateway
    from services.intake.app import create_service as intake
    from services.matching.app import create_service as matching
    from services.notifications.app import create_service as notifications

    return [intake(), matching(), notifications(), gateway(), care()]


def text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "write"
    current = text(document(platform()))
    if command == "check":
        stale = not DOCUMENT.exists() or DOCUMENT.read_text() != current
        print(f"{DOCUMENT} is stale: run python -m services.asyncapi" if stale else f"{DOCUMENT} is current")
        return 1 if stale else 0
    if command == "html":
        page = asyncapi_page(current)
        if len(argv) > 1:
            Path(argv[1]).write_text(page)
        else:
            sys.stdout.write(page)
        return 0
    DOCUMENT.write_text(current)
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
