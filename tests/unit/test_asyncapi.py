import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker, KafkaMessage

from services.asyncapi import DOCUMENT, document, platform, text
from shared import topics
from shared.health import HealthServer
from shared.runtime import Service
from shared.settings import ServiceSettings


def test_the_committed_asyncapi_document_is_current() -> None:
    assert DOCUMENT.read_text() == text(document(platform())), "stale: run python -m services.asyncapi"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_every_topic_is_a_channel_someone_reads_or_writes_and_every_reference_resolves() -> None:
    doc = json.loads(DOCUMENT.read_text())
    assert doc["asyncapi"] == "3.0.0"
    for ref in _refs(doc):
        _resolve(doc, ref)
    addresses = {channel["address"]: key for key, channel in doc["channels"].items()}
    used = {operation["channel"]["$ref"].removeprefix("#/channels/") for operation in doc["operations"].values()}
    for spec in topics.TOPICS:
        assert spec.name in addresses, f"{spec.name} is missing: a service must read or declare writing it"
        assert addresses[spec.name] in used


def test_what_each_service_reads_and_writes_is_in_the_document() -> None:
    operations = json.loads(DOCUMENT.read_text())["operations"]
    requested = operations["intake.receive.firm.assignment.requested"]
    assert requested["action"] == "receive"
    assert requested["bindings"]["kafka"]["groupId"] == {"type": "string", "enum": ["trailblazer-intake"]}
    assert operations["intake.send.firm.assignment.rejected"]["action"] == "send"
    assert operations["notifications.send.firm.duty-of-information"]["action"] == "send"
    assert operations["notifications.send.firm.stakeholder.notified"]["action"] == "send"
    for event in ("match.accepted", "assignment.cancelled", "partner.consent-withdrawn"):
        assert operations[f"matching.receive.firm.{event}"]["action"] == "receive"
        assert operations[f"care.receive.firm.{event}"]["action"] == "receive"
    assert operations["matching.receive.provider.catalog.coaches"]["action"] == "receive"
    assert operations["matching.send.provider.catalog.rejected"]["action"] == "send"
    assert operations["care.receive.firm.duty-of-information"]["action"] == "receive"
    assert operations["gateway.send.firm.assignment.requested"]["action"] == "send"


def test_firms_and_providers_topics_are_their_own_and_only_internal_topics_are_shared() -> None:
    doc = json.loads(DOCUMENT.read_text())
    internal = {spec.name for spec in topics.TOPICS}
    for key, channel in doc["channels"].items():
        if key.startswith(("firm.", "provider.")):
            assert channel["address"].startswith(("trailblazer.firm.{firm_id}.", "trailblazer.provider.{provider_id}."))
        else:
            assert channel["address"] in internal, f"{channel['address']} is neither internal nor a tenant's"
    assert internal == {
        topics.ASSIGNMENT_CREATED,
        topics.MATCH_PROPOSED,
        topics.MATCH_UPDATED,
        topics.DEAD_LETTER,
        topics.CARE_CHECK_IN_DUE,
    }


def test_one_pattern_may_read_several_events_of_every_firm() -> None:
    def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
        pattern = topics.firm_pattern(topics.FirmEvent.ASSIGNMENT_CANCELLED, topics.FirmEvent.MATCH_ACCEPTED)

        @broker.subscriber(pattern=pattern, group_id="trailblazer-matching-lifecycle")
        async def on_record(message: KafkaMessage) -> None: ...

    service = Service(name="matching", migrations=Path("."), register=register, settings=ServiceSettings())
    assert set(document([service])["operations"]) == {
        "matching.receive.firm.assignment.cancelled",
        "matching.receive.firm.match.accepted",
    }


def test_messages_carry_the_contracts_the_key_and_the_headers() -> None:
    doc = json.loads(DOCUMENT.read_text())
    message = doc["components"]["messages"]["AssignmentRequested"]
    assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
    assert message["headers"]["properties"]["event_type"]["const"] == "assignment.requested"
    payload = _resolve(doc, message["payload"]["$ref"])
    assert payload["additionalProperties"] is False  # what firms write is strict
    created = _resolve(doc, doc["components"]["messages"]["AssignmentCreated"]["payload"]["$ref"])
    assert "additionalProperties" not in created  # what services write is read tolerantly
    assert doc["components"]["securitySchemes"] == {"scram512": {"type": "scramSha512"}}


def test_a_subscription_to_every_firms_topic_becomes_a_channel_with_the_firm_as_parameter() -> None:
    def register(broker: KafkaBroker, pool: asyncpg.Pool, settings: ServiceSettings) -> None:
        pattern = topics.firm_pattern(topics.FirmEvent.ASSIGNMENT_REQUESTED)

        @broker.subscriber(pattern=pattern, group_id="trailblazer-intake")
        async def on_record(message: KafkaMessage) -> None: ...

    service = Service(
        name="intake",
        migrations=Path("."),
        register=register,
        settings=ServiceSettings(),
        publishes=(topics.FirmEvent.ASSIGNMENT_REJECTED,),
    )
    doc = document([service])
    assert (
        doc["channels"]["firm.assignment.requested"]["address"] == "trailblazer.firm.{firm_id}.assignment.requested.v1"
    )
    assert set(doc["channels"]["firm.assignment.rejected"]["parameters"]) == {"firm_id"}
    assert set(doc["operations"]) == {
        "intake.receive.firm.assignment.requested",
        "intake.send.firm.assignment.rejected",
    }


async def test_the_health_port_serves_the_document_and_its_page() -> None:
    server = HealthServer("127.0.0.1", 0, {})
    await server.start()
    try:
        assert server._server is not None
        port = server._server.sockets[0].getsockname()[1]
        page = await _get(port, "/asyncapi")
        assert page.startswith(b"HTTP/1.1 200") and b"text/html" in page and b"AsyncApiStandalone.render" in page
        raw = await _get(port, "/asyncapi.json")
        assert raw.startswith(b"HTTP/1.1 200")
        assert json.loads(raw.split(b"\r\n\r\n", 1)[1]) == json.loads(DOCUMENT.read_text())
    finally:
        await server.stop()


async def _get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def test_every_topic_the_gateway_reads_is_one_another_service_reads_or_writes() -> None:
    """The gateway's status is only as good as the topics it projects: when topics move (per-firm
    topics, docs/tenancy.md), its subscriptions must move with them."""
    operations = json.loads(DOCUMENT.read_text())["operations"]
    by_channel: dict[str, set[str]] = {}
    for key, operation in operations.items():
        by_channel.setdefault(operation["channel"]["$ref"], set()).add(key.split(".")[0])
    for key, operation in operations.items():
        if key.startswith("gateway.receive."):
            others = by_channel[operation["channel"]["$ref"]] - {"gateway"}
            assert others, f"{key}: no other service uses this topic; move services/gateway/handlers.py with it"
