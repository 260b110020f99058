"""Catalog records published with a plain Kafka client change what partners are proposed, and
each change to an open match is announced as one `match.updated`, which notifications turns into a
message to the partner about what changed."""

from typing import Any

import pytest

from deploy.local.config import StackConfig
from deploy.local.topic_reader import Received, TopicReader
from shared import topics
from shared.topics import FirmEvent, firm_topic

from .matching_catalog import (
    CATALOG_REJECTED,
    COACHES,
    FIRM,
    JOB_LEADS,
    coach,
    job_lead,
    partner_request,
    publish_requests,
    publish_to,
    unique,
)

pytestmark = pytest.mark.integration
NOTIFIED = firm_topic(FIRM, FirmEvent.STAKEHOLDER_NOTIFIED)
READ = (topics.MATCH_PROPOSED, topics.MATCH_UPDATED, CATALOG_REJECTED, NOTIFIED)


def about(topic: str, request: dict[str, Any]) -> Any:
    return lambda r: r.topic == topic and r.key == request["payload"]["assignment_id"]


async def proposed(reader: TopicReader, request: dict[str, Any]) -> dict[str, Any]:
    [record] = await reader.wait_for(about(topics.MATCH_PROPOSED, request))
    payload: dict[str, Any] = record.value["payload"]
    return payload


async def test_catalog_records_change_proposals_and_open_matches_are_updated(local_stack: StackConfig) -> None:
    kafka = local_stack
    coach_id, lead_id = unique("coach-is"), unique("lead-is")
    async with TopicReader(kafka, *READ) as reader:
        before = partner_request("is", "Reykjavik", "IS")
        await publish_requests(kafka, [before])
        unmatched = await proposed(reader, before)
        assert unmatched["coach"] is None
        assert unmatched["unmatched"][0]["reason_code"] == "no_shared_language"

        broken = {**coach(coach_id, "is", "Reykjavik", "IS", 1), "capacity": -1, "timezone": "Mars/Olympus"}
        await publish_to(kafka, COACHES, [(coach_id, broken), (coach_id, coach(coach_id, "is", "Reykjavik", "IS", 1))])
        [refusal] = await reader.wait_for(lambda r: r.topic == CATALOG_REJECTED and r.key == coach_id)
        errors = {e["field"]: e["code"] for e in refusal.value["payload"]["errors"]}
        assert errors == {"capacity": "greater_than_equal", "timezone": "invalid_value"}

        first, second = partner_request("is", "Reykjavik", "IS"), partner_request("is", "Reykjavik", "IS")
        await publish_requests(kafka, [first])
        match = await proposed(reader, first)
        assert match["coach"]["coach_id"] == coach_id
        language = next(c for c in match["coach"]["criteria"] if c["criterion"] == "language")
        assert language["explanation"] == "speaks Icelandic, which you speak at C2"
        await publish_requests(kafka, [second])
        full = await proposed(reader, second)
        assert full["coach"] is None and full["unmatched"][0]["reason_code"] == "no_capacity"

        await publish_to(kafka, JOB_LEADS, [(lead_id, job_lead(lead_id, "Reykjavik", "IS"))])
        added = await reader.wait_for(about(topics.MATCH_UPDATED, first))
        assert added[0].value["payload"]["reason"] == "new_job_leads"
        assert added[0].value["payload"]["added_job_lead_ids"] == [lead_id]
        skills = next(c for c in added[0].value["payload"]["job_leads"][0]["criteria"] if c["criterion"] == "skills")
        assert skills["explanation"] == "2 of the 2 skills asked for are yours"
        # notifications tells the partner what changed, not everything again
        [told] = await reader.wait_for(
            lambda r: (
                about(NOTIFIED, first)(r) and r.value["payload"]["content_kind"].startswith("partner.match_update")
            )
        )
        assert "Geothermal Power hf" in told.value["payload"]["body"]
        assert "Coach " + coach_id not in told.value["payload"]["body"], "an unchanged coach is not announced again"

        await publish_to(kafka, JOB_LEADS, [(lead_id, None)])
        await publish_to(kafka, COACHES, [(coach_id, None)])
        changes = await reader.wait_for(about(topics.MATCH_UPDATED, first), count=3)
    by_reason: dict[str, Received] = {c.value["payload"]["reason"]: c for c in changes}
    assert by_reason["job_leads_withdrawn"].value["payload"]["removed_job_lead_ids"] == [lead_id]
    withdrawn = by_reason["coach_withdrawn"].value["payload"]
    assert withdrawn["previous_coach_id"] == coach_id and withdrawn["coach"] is None
    assert withdrawn["unmatched"][0]["reason_code"] == "no_shared_language"
