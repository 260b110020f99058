"""A firm's request, published as raw JSON with a plain Kafka client, travels through intake,
matching and notifications on the real broker and databases, as one trace."""

import asyncio
import json
import time
import urllib.request
import uuid
from typing import Any

import asyncpg
import pytest

from deploy.local.config import StackConfig
from deploy.local.firm import SAMPLE_FAMILIES, assignment_request, encode, publish, record_key
from deploy.local.topic_reader import TopicReader
from shared import topics
from shared.topics import FirmEvent, firm_topic

pytestmark = pytest.mark.integration

FIRM = "nordic-relocation"  # the requests' firm (a local firm: its topics come with the stack)
REJECTED = firm_topic(FIRM, FirmEvent.ASSIGNMENT_REJECTED)
NOTIFIED = firm_topic(FIRM, FirmEvent.STAKEHOLDER_NOTIFIED)
ALL_OUTPUT_TOPICS = (topics.ASSIGNMENT_CREATED, REJECTED, topics.MATCH_PROPOSED, NOTIFIED, topics.DEAD_LETTER)


def for_assignment(topic: str, assignment_id: str) -> Any:
    return lambda r: r.topic == topic and r.key == assignment_id


def zipkin_trace(cfg: StackConfig, trace_id: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{cfg.zipkin_url}/api/v2/trace/{trace_id}", timeout=5) as response:
            spans: list[dict[str, Any]] = json.load(response)
            return spans
    except OSError:
        return []


async def services_in_trace(
    cfg: StackConfig, trace_id: str, wanted: set[str], names: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The trace's spans once every wanted service and span name is in (each service's exporter
    sends its spans in its own time), or what there is after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        spans = zipkin_trace(cfg, trace_id)
        complete = wanted <= {s["localEndpoint"]["serviceName"] for s in spans} and names <= {s["name"] for s in spans}
        if complete or time.monotonic() > deadline:
            return spans
        await asyncio.sleep(0.5)


async def test_an_assignment_reaches_every_stakeholder_in_one_trace(local_stack: StackConfig) -> None:
    request = assignment_request(SAMPLE_FAMILIES[0])  # German-speaking partner moving to Stavanger
    assignment_id = request["payload"]["assignment_id"]
    async with TopicReader(local_stack, *ALL_OUTPUT_TOPICS) as reader:
        await publish(local_stack, [(record_key(request), encode(request))])

        [created] = await reader.wait_for(for_assignment(topics.ASSIGNMENT_CREATED, assignment_id))
        [match] = await reader.wait_for(for_assignment(topics.MATCH_PROPOSED, assignment_id))
        notified = await reader.wait_for(for_assignment(NOTIFIED, assignment_id), count=3)

    assert created.value["payload"]["assignment"]["host_location"] == {"city": "Stavanger", "country": "NO"}
    assert created.value["correlation_id"] == request["correlation_id"]
    proposal = match.value["payload"]
    coach = proposal["coach"]
    assert coach is not None, proposal["unmatched"]
    assert all(c["explanation"] for c in coach["criteria"])
    assert proposal["job_leads"], proposal["unmatched"]
    by_role = {n.value["payload"]["stakeholder"]: n.value["payload"] for n in notified}
    assert set(by_role) == {"partner", "employee", "hr"}
    assert by_role["partner"]["recipient"] == request["payload"]["partner"]["email"]
    assert "Norway" in by_role["partner"]["body"] or "udi.no" in by_role["partner"]["body"]
    assert coach["display_name"] in by_role["partner"]["body"]
    assert "have both been informed" in by_role["hr"]["body"]
    assert "Partner: by e-mail, accepted by the mail server on" in by_role["hr"]["body"]

    trace_ids = {r.trace_id for r in (created, match, *notified)}
    assert len(trace_ids) == 1, "every event of one assignment belongs to one trace"
    services = {"trailblazer-intake", "trailblazer-matching", "trailblazer-notifications"}
    spans = await services_in_trace(
        local_stack, trace_ids.pop(), services, frozenset({"intake.handle", "matching.handle", "matching.load"})
    )
    assert services <= {s["localEndpoint"]["serviceName"] for s in spans}
    traced_db = {s["localEndpoint"]["serviceName"] for s in spans if s.get("tags", {}).get("db.system") == "postgresql"}
    # (The gateway, projecting the same events for firms' status requests, may appear too.)
    assert traced_db >= services, "database calls are traced in every service"
    names = {s["name"] for s in spans}
    # Spans say what they do: the repository operation, not the SQL verb (TRAILBLAZER_TRACE_SQL).
    assert not names & {"insert", "select", "update", "delete", "begin;", "commit;"}, sorted(names)
    assert {"intake.handle", "intake.repository.save_assignment", "outbox.add", "db.commit"} <= names, sorted(names)
    keys = {
        s["tags"]["messaging.kafka.message.key"] for s in spans if "messaging.kafka.message.key" in s.get("tags", {})
    }
    assert keys == {assignment_id}, "the record key reads as the assignment id"
    phases = {
        "matching.load",
        "matching.situation",
        "matching.rank_coaches",
        "matching.reserve_coach",
        "matching.explain_coach",
    }
    assert phases | {"matching.rank_leads", "matching.explain_leads"} <= names, sorted(names)
    loads = [s for s in spans if s["name"] == "matching.load"]
    matches = [s for s in spans if s["name"] == "matching.handle" and any(s["id"] == m.get("parentId") for m in loads)]
    assert matches, sorted(names)
    for handle in matches:  # the match (an assignment.created); matching handles other records of the trace too
        covered = sum(s["duration"] for s in spans if s.get("parentId") == handle["id"])
        # Microseconds: what no child span accounts for is the handler's own Python between them.
        children = sorted(
            (s["timestamp"] - handle["timestamp"], s["duration"], s["name"])
            for s in spans
            if s.get("parentId") == handle["id"]
        )
        assert handle["duration"] - covered <= max(0.25 * handle["duration"], 50_000), (handle["duration"], children)
    exported = json.dumps(spans)
    for personal in (
        request["payload"]["partner"]["full_name"],
        request["payload"]["partner"]["email"],
        request["payload"]["employee"]["email"],
    ):
        assert personal not in exported, "no personal data in spans"


async def test_bad_requests_are_answered_and_the_next_good_one_still_flows(local_stack: StackConfig) -> None:
    good = assignment_request(SAMPLE_FAMILIES[2])
    wrong_types = assignment_request(SAMPLE_FAMILIES[1])
    wrong_types["payload"]["start_date"] = ["soon"]
    unknown_enum = assignment_request(SAMPLE_FAMILIES[1])
    unknown_enum["payload"]["partner"]["profile"]["sector"] = "astrology"
    missing = assignment_request(SAMPLE_FAMILIES[1])
    del missing["payload"]["partner"]
    bad = [
        (b"malformed-1", b'{"event_id": "oops",'),
        (record_key(wrong_types), encode(wrong_types)),
        (record_key(unknown_enum), encode(unknown_enum)),
        (record_key(missing), encode(missing)),
    ]
    async with TopicReader(local_stack, *ALL_OUTPUT_TOPICS) as reader:
        # One partition key for all, so the good request queues behind every bad one.
        await publish(local_stack, [*bad, (record_key(good), encode(good))])
        rejected = {
            r.key: {e["field"]: e["code"] for e in r.value["payload"]["errors"]}
            for r in await reader.wait_for(
                lambda r: r.topic == REJECTED and r.key in {k.decode() for k, _ in bad}, count=4
            )
        }
        await reader.wait_for(for_assignment(NOTIFIED, str(good["payload"]["assignment_id"])), count=3)
    assert rejected["malformed-1"] == {"$": "malformed_json"}
    assert rejected[record_key(wrong_types).decode()] == {"payload.start_date": "date_type"}
    assert rejected[record_key(unknown_enum).decode()] == {"payload.partner.profile.sector": "unknown_value"}
    assert rejected[record_key(missing).decode()] == {"payload.partner": "missing_field"}


async def test_a_redelivered_request_changes_nothing_and_a_reused_id_is_refused(local_stack: StackConfig) -> None:
    request = assignment_request(SAMPLE_FAMILIES[1])
    assignment_id = str(request["payload"]["assignment_id"])
    reused = {**request, "event_id": str(uuid.uuid4())}
    async with TopicReader(local_stack, *ALL_OUTPUT_TOPICS) as reader:
        await publish(local_stack, [(record_key(request), encode(request))] * 2)
        await reader.wait_for(for_assignment(NOTIFIED, assignment_id), count=3)
        await publish(local_stack, [(record_key(reused), encode(reused))])
        [refusal] = await reader.wait_for(for_assignment(REJECTED, assignment_id))
        await asyncio.sleep(2)  # room for any duplicate to show up
        assert len(reader.matching(for_assignment(topics.ASSIGNMENT_CREATED, assignment_id))) == 1
        assert len(reader.matching(for_assignment(NOTIFIED, assignment_id))) == 3
    assert [e["code"] for e in refusal.value["payload"]["errors"]] == ["duplicate_assignment"]
    connection = await asyncpg.connect(local_stack.database_url("notifications"))
    try:
        rows = await connection.fetch(
            "SELECT stakeholder, channel FROM notifications WHERE assignment_id = $1 ORDER BY stakeholder",
            uuid.UUID(assignment_id),
        )
    finally:
        await connection.close()
    assert [(r["stakeholder"], r["channel"]) for r in rows] == [
        ("employee", "email"),
        ("hr", "email"),
        ("partner", "email"),
    ]
